"""The RunPod Serverless worker: cold start, ComfyUI headless, and a job handler (docs/serverless.md).

Nothing here imports ComfyUI or the runpod SDK: ComfyUI runs as a child process and is spoken
to over HTTP and its WebSocket on loopback; the SDK's ``start`` is handed in by the entry point
(docker/serverless/handler.py), so the core stays importable wherever the package is.
"""
