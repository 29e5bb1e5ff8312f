// ComfyUI-Launchpad frontend entry. The sidebar panel arrives with the dashboard issue.
import { app } from "../../../scripts/app.js";

app.registerExtension({ name: "launchpad.Main" });
