"""README's module table is the tree's: one row per package, its docstring's
first sentence and its modules, regenerated here and compared."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- module table: tests/test_docs.py -->", "<!-- end of module table -->"


def first_sentence(text: str) -> str:
    """The first sentence of a docstring, reST roles and literals as Markdown code."""
    flat = re.sub(r":\w+:`([^`]+)`", r"`\1`", " ".join(text.split())).replace("``", "`")
    match = re.match(r"(.+?\.)(\s|$)", flat)
    return match.group(1) if match else flat


def module_table() -> str:
    """The table README.md must hold between START and END."""
    rows = ["| package | what it is | modules |", "|---|---|---|"]
    for init in sorted(ROOT.glob("*/**/__init__.py")):
        package = init.parent
        if package.parts[len(ROOT.parts)] not in ("lava_convdelay", "netx_export", "sim"):
            continue
        name = ".".join(package.relative_to(ROOT).parts)
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        modules = sorted(p.stem for p in package.glob("*.py") if p.stem != "__init__")
        modules += sorted(f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file())
        rows.append(f"| `{name}` | {first_sentence(doc)} | {', '.join(f'`{m}`' for m in modules)} |")
    return "\n".join(rows)


def test_readme_module_table_is_the_trees():
    readme = (ROOT / "README.md").read_text()
    assert START in readme and END in readme, f"README.md needs the markers {START} ... {END}"
    table = readme.split(START)[1].split(END)[0].strip()
    expected = module_table()
    assert table == expected, "README.md's module table is out of date; it should read:\n" + expected


def test_first_sentence():
    assert first_sentence("The core: blocks.\n\nMore.") == "The core: blocks."
    assert first_sentence("Spike datasets in the SHD format.") == "Spike datasets in the SHD format."
    assert first_sentence("A b. C d.") == "A b."
    assert first_sentence("Uses :mod:`sim` and ``x``.") == "Uses `sim` and `x`."
