"""The frontend's files: the size budget, and the ComfyUI loading rules they must follow
(docs/comfyui-facts.md, Frontend): ComfyUI imports every .js under web/ as a module, so only the
entry is .js; URLs derive from import.meta.url; no bare imports (1.58 has no importmap); only
the palette's CSS variables (PrimeVue's --p-* are empty in 1.58).
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT

WEB = ROOT / "web"
# bytes, all of web/ uncompressed (the project's budget): readable code comes first, so the files
# are written for people (short lines, one statement a line, comments that say why), never squeezed.
BUDGET = 80_000


# strings, template strings and regular expressions, whose semicolons end no statement
LITERAL = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`(?:\\.|[^`\\])*`|/(?![/*])(?:\\.|\[[^\]]*\]|[^/\\])+/""")


def web_files() -> list[Path]:
    return sorted(p for p in WEB.rglob("*") if p.is_file())


def test_all_web_assets_fit_the_budget() -> None:
    sizes = {str(p.relative_to(WEB)): p.stat().st_size for p in web_files()}
    total = sum(sizes.values())
    print(f"web/ is {total} bytes: {sizes}")
    assert total < BUDGET, f"web/ is {total} bytes, over the {BUDGET} byte budget: {sizes}"


def test_the_files_stay_readable() -> None:
    """Short lines, one statement a line: nothing squeezed to save bytes."""
    for path in web_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert len(line) <= 120, f"{path.name}:{number} is {len(line)} characters long"
            if path.suffix in (".js", ".mjs") and not line.lstrip().startswith(("//", "*", "/*")):
                code = LITERAL.sub('""', line).split("//")[0]
                assert not re.search(r";\s*\S", code), f"{path.name}:{number} has more than one statement"


def test_only_the_entry_is_auto_loaded_by_comfyui() -> None:
    assert [p.relative_to(WEB).as_posix() for p in WEB.rglob("*.js")] == ["js/launchpad.js"]


def test_modules_import_only_relative_paths_and_never_hard_code_their_url() -> None:
    for path in [*WEB.rglob("*.js"), *WEB.rglob("*.mjs")]:
        text = path.read_text(encoding="utf-8")
        for spec in re.findall(r"""^\s*import\s[^'"]*['"]([^'"]+)['"]""", text, re.MULTILINE):
            assert spec.startswith(("./", "../")), f"{path.name} imports {spec!r}: use a relative path"
        assert "/extensions/" not in text, f"{path.name} names /extensions/: derive URLs from import.meta.url"


def test_styles_use_the_palette_variables_only() -> None:
    for path in [*WEB.rglob("*.css"), *WEB.rglob("*.mjs"), *WEB.rglob("*.html")]:
        assert "--p-" not in path.read_text(encoding="utf-8"), f"{path.name} uses a PrimeVue variable"
