"""Translation tooling: extract the UI strings, check the German catalogue, compile ``.qm`` files.

Usage (from the repository root)::

    .venv/bin/python -m tools.i18n update    # ui/**/*.py -> resources/i18n/app_de.ts, app_en.ts
    .venv/bin/python -m tools.i18n check     # fails on untranslated German or stale .qm files
    .venv/bin/python -m tools.i18n compile   # .ts -> .qm (committed, so a clone needs no tools)
    .venv/bin/python -m tools.i18n all       # update, compile, check
    .venv/bin/python -m tools.i18n fill F.tsv  # German from CONTEXT<TAB>SOURCE<TAB>GERMAN lines

Source strings are English. ``app_de.ts`` carries the German translation (edit it with
``pyside6-linguist`` or by hand); ``app_en.ts`` holds plural forms only. The extractor and the
compiler are Qt's own ``lupdate``/``lrelease`` as shipped with PySide6.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "ui"
I18N = ROOT / "resources" / "i18n"
LANGUAGES = ("de", "en")


class ToolMissing(RuntimeError):
    """A Qt Linguist tool is not installed."""


def find_tool(name: str) -> list[str]:
    """The command line for ``lupdate``/``lrelease`` from the PySide6 installation."""
    suffix = ".exe" if os.name == "nt" else ""
    scripts = Path(sys.executable).parent
    wrapper = scripts / f"pyside6-{name}{suffix}"
    if wrapper.exists():
        return [str(wrapper)]
    found = shutil.which(f"pyside6-{name}")
    if found:
        return [found]
    try:
        import PySide6
    except ImportError as exc:  # pragma: no cover - PySide6 is a dependency
        raise ToolMissing("PySide6 is not installed") from exc
    binary = Path(PySide6.__file__).parent / f"{name}{suffix}"
    if binary.exists():
        return [str(binary)]
    raise ToolMissing(f"pyside6-{name} not found; install PySide6-Essentials")


def ts_path(lang: str) -> Path:
    return I18N / f"app_{lang}.ts"


def qm_path(lang: str) -> Path:
    return I18N / f"app_{lang}.qm"


def source_files() -> list[Path]:
    return sorted(p for p in SOURCES.rglob("*.py") if "__pycache__" not in p.parts)


def _run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def extract(lang: str, target: Path) -> None:
    """Merge the strings of ``ui/`` into the catalogue ``target`` (created when missing)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        *find_tool("lupdate"),
        "-extensions",
        "py",
        "-locations",
        "none",
        "-no-obsolete",
        "-source-language",
        "en",
        "-target-language",
        lang,
    ]
    if lang == "en":
        cmd.append("-pluralonly")
    # a list file keeps the command short on Windows
    with tempfile.NamedTemporaryFile(
        "w", suffix=".lst", delete=False, encoding="utf-8"
    ) as listing:
        listing.write("\n".join(str(p.relative_to(ROOT)) for p in source_files()))
    try:
        _run([*cmd, f"@{listing.name}", "-ts", str(target)])
    finally:
        os.unlink(listing.name)


def update() -> None:
    for lang in LANGUAGES:
        extract(lang, ts_path(lang))
        print(f"updated {ts_path(lang).relative_to(ROOT)}")


def compile_all() -> None:
    for lang in LANGUAGES:
        _run([*find_tool("lrelease"), "-silent", str(ts_path(lang)), "-qm", str(qm_path(lang))])
        print(f"compiled {qm_path(lang).relative_to(ROOT)}")


@dataclass(frozen=True)
class Message:
    context: str
    source: str
    translation: str
    finished: bool


def read_ts(path: Path) -> list[Message]:
    """The messages of a ``.ts`` file (our own file: parsed without DTD or entities)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(path.read_bytes(), parser)
    out = []
    for context in root.iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            tr = message.find("translation")
            numerus = tr is not None and len(tr.findall("numerusform")) > 0
            value = (
                " | ".join(n.text or "" for n in tr.findall("numerusform"))
                if numerus and tr is not None
                else ((tr.text or "") if tr is not None else "")
            )
            kind = tr.get("type") if tr is not None else "unfinished"
            out.append(
                Message(
                    context=name,
                    source=message.findtext("source") or "",
                    translation=value,
                    finished=kind not in ("unfinished", "vanished", "obsolete"),
                )
            )
    return out


def problems() -> list[str]:
    """What stops the catalogues from being complete and current (empty when all is well)."""
    found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "app_de.ts"
        if ts_path("de").exists():
            shutil.copy(ts_path("de"), fresh)
        extract("de", fresh)
        for m in read_ts(fresh):
            if not m.finished or not m.translation.strip():
                found.append(f"German translation missing: [{m.context}] {m.source!r}")
    committed = {(m.context, m.source) for m in read_ts(ts_path("de"))} if ts_path(
        "de"
    ).exists() else set()
    if not committed:
        found.append(f"{ts_path('de').name} is missing or empty; run 'update'")
    for lang in LANGUAGES:
        ts, qm = ts_path(lang), qm_path(lang)
        if not qm.exists():
            found.append(f"{qm.name} is missing; run 'compile'")
        elif ts.exists() and _compiled(ts) != qm.read_bytes():
            found.append(f"{qm.name} is older than {ts.name}; run 'compile'")
    return found


def _unescape(field: str) -> str:
    return field.replace("\\n", "\n").replace("\\t", "\t")


def fill(files: list[Path]) -> int:
    """Set the German translation of the messages named in ``files`` (after ``update``).

    Each line is ``CONTEXT<TAB>ENGLISH SOURCE<TAB>GERMAN``; ``\\n`` and ``\\t`` stand for a line
    break and a tab. Only messages still unfinished are changed; lines that match no message are
    listed, so a typo in a source text does not go unnoticed. Returns the number of such lines.
    """
    target = ts_path("de")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    tree = etree.fromstring(target.read_bytes(), parser).getroottree()
    messages: dict[tuple[str, str], etree._Element] = {}
    for context in tree.getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            messages[(name, message.findtext("source") or "")] = message
    unmatched = 0
    for path in files:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                print(f"{path}:{number}: needs three tab-separated fields", file=sys.stderr)
                unmatched += 1
                continue
            context, source, german = (_unescape(p) for p in parts)
            message = messages.get((context, source))
            if message is None:
                print(f"{path}:{number}: no message [{context}] {source!r}", file=sys.stderr)
                unmatched += 1
                continue
            translation = message.find("translation")
            if translation is None:
                translation = etree.SubElement(message, "translation")
            if translation.get("type") not in ("unfinished", None) or (
                    translation.get("type") is None and translation.text):
                continue  # translated already: the catalogue wins
            translation.text = german
            translation.attrib.pop("type", None)
    tree.write(str(target), encoding="utf-8", xml_declaration=True)
    print(f"filled {target.relative_to(ROOT)}; {unmatched} line(s) unmatched")
    return unmatched


def _compiled(ts: Path) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.qm"
        _run([*find_tool("lrelease"), "-silent", str(ts), "-qm", str(out)])
        return out.read_bytes()


def check() -> int:
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print("translations complete and compiled")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools.i18n", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("update", "compile", "check", "all", "fill"),
                        nargs="?", default="all")
    parser.add_argument("files", nargs="*", type=Path, help="TSV files (fill only)")
    args = parser.parse_args(argv)
    try:
        if args.action == "fill":
            return 1 if fill(args.files) else 0
        if args.action in ("update", "all"):
            update()
        if args.action in ("compile", "all"):
            compile_all()
        if args.action in ("check", "all"):
            return check()
    except (ToolMissing, RuntimeError) as exc:
        print(f"i18n: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
