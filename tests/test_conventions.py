"""The conventions of docs/conventions.md that a machine can check: module names, spelling, imports
between method packages."""

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("pfgmpp", "mfm", "gde", "meshformer", "giorom", "probconserv", "fim")
SOURCES = [p for d in ("sciml", "tests", "benchmarks", "notebooks") for p in sorted((ROOT / d).rglob("*.py"))]

# American -ize/-yze forms of words we spell with -ise; a name containing one is reported.
AMERICAN = re.compile(
    r"(?i)(normaliz|optimiz|initializ|regulariz|parameteriz|visualiz|synchroniz|standardiz|serializ|summariz"
    r"|minimiz|maximiz|discretiz|randomiz|vectoriz|tokeniz|quantiz|generaliz|specializ|utiliz|stabiliz"
    r"|finaliz|customiz|amortiz|lineariz|analyz)"
)
# Names owned by other libraries, spelt their way: scipy.optimize(.minimize), jax.distributed.initialize,
# jax's backends_are_initialized, protobuf's SerializeToString, the standard library's tokenize.
THIRD_PARTY = {"optimize", "minimize", "initialize", "backends_are_initialized", "SerializeToString", "tokenize"}


def test_identifiers_use_british_spelling():
    found = []
    for path in SOURCES:
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type == tokenize.NAME and AMERICAN.search(tok.string) and tok.string not in THIRD_PARTY:
                found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string}")
    assert not found, "American spelling in names (docs/conventions.md):\n" + "\n".join(found)


def test_module_files_are_public():
    private = [str(p.relative_to(ROOT)) for p in (ROOT / "sciml").rglob("_*.py") if p.name != "__init__.py"]
    assert not private, f"module files are named publicly (docs/conventions.md): {private}"


def _imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", [*METHODS, "data", "nn", "sim", "runner"])
def test_layers_import_only_downwards(layer):
    """A method package imports no other method package; shared layers import no method package."""
    banned = {m for m in METHODS if m != layer} | {"studies"}
    offending = []
    for path in sorted((ROOT / "sciml" / layer).rglob("*.py")):
        for module in _imported_modules(path):
            parts = module.split(".")
            if parts[0] == "sciml" and len(parts) > 1 and parts[1] in banned:
                offending.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not offending, "\n".join(offending)
