"""``smgwct job`` and ``smgwct report build/verify`` driven through the command-line entry point.

Every test runs in its own data folder (``SMGWCT_DATA_DIR``, see tests/conftest.py), so the job
list, audit log and demo PKI the commands create start empty.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app.cli import main
from app.store.jobs import read_work_order
from app.store.settings import data_dir

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "jobs"
HANDOVER = DEMO / "handover.json"
METER_CHANGE = DEMO / "meter-change.xml"


class Cli:
    """Runs ``smgwct`` in-process and hands back exit code, stdout and stderr."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str | Path) -> tuple[int, str, str]:
        self.capsys.readouterr()  # drop what earlier steps printed
        code = main([str(a) for a in args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str | Path) -> str:
        code, out, err = self(*args)
        assert code == 0, err
        return out


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SMGWCT_LANG", "en")
    return Cli(capsys)


def show(cli: Cli, job_id: str) -> dict:
    return json.loads(cli.ok("job", "show", job_id, "--json"))


def photo_file(tmp_path: Path, name: str = "cabinet.jpg") -> Path:
    path = tmp_path / name
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"cabinet photo" * 40)
    return path


# -- job check / import ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["handover.json", "handover.xml", "meter-change.json",
                                  "meter-change.xml"])
def test_check_accepts_the_demo_work_orders_without_storing_them(cli, name):
    out = cli.ok("job", "check", DEMO / name)
    job_id = read_work_order(DEMO / name).job_id
    assert out.strip() == f"{name}: work order {job_id} is valid."
    assert not (data_dir() / "work_orders.sqlite3").exists()


def test_check_lists_every_problem_with_line_and_field(cli, tmp_path):
    doc = json.loads(HANDOVER.read_text(encoding="utf-8"))
    doc["site"]["postal_code"] = "1234"
    doc["flows"] = ["handover", "handover"]
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    postal_line = next(i for i, line in enumerate(text.splitlines(), 1) if "postal_code" in line)
    bad = tmp_path / "bad.json"
    bad.write_text(text, encoding="utf-8")
    code, out, err = cli("job", "check", bad)
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == "bad.json:"
    assert f"  line {postal_line}, site.postal_code: Postal code '1234' must be 5 digits, " \
           "e.g. '12345'." in lines, err
    assert any("flows[1]" in line and "planned twice" in line for line in lines[1:]), err


def test_check_speaks_german_when_asked(cli, monkeypatch):
    monkeypatch.setenv("SMGWCT_LANG", "de")
    assert "Auftrag DEMO-2025-0002 ist gültig" in cli.ok("job", "check", METER_CHANGE)


def test_import_stores_the_job_once_with_the_file_hash(cli):
    assert cli.ok("job", "import", METER_CHANGE).strip() == "DEMO-2025-0002"
    doc = show(cli, "DEMO-2025-0002")
    assert doc["source"] == {
        "format": "xml", "file": "meter-change.xml",
        "sha256": hashlib.sha256(METER_CHANGE.read_bytes()).hexdigest()}
    assert doc["work_order"] == read_work_order(METER_CHANGE).to_dict()
    assert doc["state"] == "open"
    code, _, err = cli("job", "import", DEMO / "meter-change.json")  # same job number
    assert code == 1
    assert "DEMO-2025-0002" in err and "already in the job list" in err


def test_import_of_a_broken_file_stores_nothing(cli, tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_bytes(METER_CHANGE.read_bytes().replace(b"<smgwId>ETHE0390000001</smgwId>", b""))
    code, _, err = cli("job", "import", bad)
    assert code == 1
    assert err.startswith("broken.xml:") and "smgwId" in err
    assert json.loads(cli.ok("job", "list", "--json")) == []


# -- job list / show / export ------------------------------------------------------------------


def test_list_shows_every_job_as_text_and_json(cli):
    cli.ok("job", "import", HANDOVER)
    cli.ok("job", "import", METER_CHANGE)
    listing = json.loads(cli.ok("job", "list", "--json"))
    assert sorted(j["job_id"] for j in listing) == ["DEMO-2025-0001", "DEMO-2025-0002"]
    first = next(j for j in listing if j["job_id"] == "DEMO-2025-0001")
    assert first["smgw_id"] == "ETHE0390000001" and first["state"] == "open"
    assert first["site"] == "Musterstraße 12, 12345 Musterstadt" and first["runs"] == 0
    rows = [line.split("\t") for line in cli.ok("job", "list").splitlines()]
    assert sorted(r[0] for r in rows) == ["DEMO-2025-0001", "DEMO-2025-0002"]
    assert all(r[1] == "open" and r[2] == "ETHE0390000001" for r in rows)


def test_show_as_text_names_job_meters_and_flows(cli):
    cli.ok("job", "import", METER_CHANGE)
    lines = cli.ok("job", "show", "DEMO-2025-0002").splitlines()
    assert lines[0].startswith("DEMO-2025-0002 (open) SMGW ETHE0390000001")
    assert "  meter 1EMH0012345678 old" in lines
    assert "  meter 1DZG0042123440 new demo:M-1DZG0042123440" in lines
    assert "  flows: meter_change" in lines
    assert "  photos: 0" in lines


def test_show_of_an_unknown_job_says_so(cli):
    code, out, err = cli("job", "show", "NOPE-1")
    assert code == 1 and out == ""
    assert "no job 'NOPE-1'" in err and "Import the work order first" in err


def test_export_gives_back_the_work_order_in_both_formats(cli, tmp_path):
    cli.ok("job", "import", HANDOVER)
    out_json = tmp_path / "export.json"
    assert cli.ok("job", "export", "DEMO-2025-0001", "--format", "json", "--out", out_json) == ""
    assert json.loads(out_json.read_text(encoding="utf-8")) == json.loads(
        HANDOVER.read_text(encoding="utf-8"))
    xml = cli.ok("job", "export", "DEMO-2025-0001")  # XML on standard output
    assert xml.startswith("<?xml")
    exported = tmp_path / "export.xml"
    exported.write_text(xml, encoding="utf-8")
    assert read_work_order(exported) == read_work_order(HANDOVER)


# -- job create ------------------------------------------------------------------------------

TYPED = ["job", "create", "--job-id", "SITE-7", "--street", "Hauptstraße 3",
         "--postal-code", "54321", "--city", "Beispielstadt", "--metering-point",
         "DE0001234512345000000000000000001", "--smgw-id", "ETHE0390000001",
         "--tenant", "demo-gwa", "--meter", "1EMH0012345678:new:keys/m1.key",
         "--flow", "handover", "--date", "2025-05-06"]


def test_create_stores_a_typed_job(cli):
    assert cli.ok(*TYPED).strip() == "SITE-7"
    order = show(cli, "SITE-7")["work_order"]
    assert order["site"] == {"street": "Hauptstraße 3", "postal_code": "54321",
                             "city": "Beispielstadt"}
    assert order["meters"] == [{"server_id": "1EMH0012345678", "role": "new",
                                "key_ref": "keys/m1.key"}]
    assert order["flows"] == ["handover"] and order["planned_date"] == "2025-05-06"
    assert show(cli, "SITE-7")["source"]["format"] == "typed"


def test_create_refuses_a_bad_field_and_names_it(cli):
    args = list(TYPED)
    args[args.index("54321")] = "5432"
    code, _, err = cli(*args)
    assert code == 1
    assert "site.postal_code" in err and "'5432'" in err and "Correct the entry" in err
    assert json.loads(cli.ok("job", "list", "--json")) == []


def test_create_refuses_a_meter_without_role(cli):
    args = list(TYPED)
    args[args.index("1EMH0012345678:new:keys/m1.key")] = "1EMH0012345678"
    code, _, err = cli(*args)
    assert code == 1 and "--meter '1EMH0012345678'" in err and "SERVERID:ROLE" in err


# -- job note / seal / photo -----------------------------------------------------------------


def test_notes_and_seals_are_numbered_and_shown(cli):
    cli.ok("job", "import", METER_CHANGE)
    assert cli.ok("job", "note", "DEMO-2025-0002", "Customer present.").strip() == "1"
    assert cli.ok("job", "seal", "DEMO-2025-0002", "DE-4711", "--action", "removed",
                  "--location", "terminal  cover", "--meter", "1 EMH00 12345678").strip() == "2"
    doc = show(cli, "DEMO-2025-0002")
    assert [(n["text"], n["seq"]) for n in doc["notes"]] == [("Customer present.", 1)]
    [seal] = doc["seals"]
    assert (seal["number"], seal["action"], seal["location"], seal["server_id"], seal["seq"]) == (
        "DE-4711", "removed", "terminal cover", "1EMH0012345678", 2)


def test_empty_note_and_overlong_seal_number_are_refused(cli):
    cli.ok("job", "import", METER_CHANGE)
    code, _, err = cli("job", "note", "DEMO-2025-0002", "   ")
    assert code == 1 and "1 to 4000 characters" in err
    code, _, err = cli("job", "seal", "DEMO-2025-0002", "X" * 41)
    assert code == 1 and "seal number is 1 to 40 characters" in err
    doc = show(cli, "DEMO-2025-0002")
    assert doc["notes"] == [] and doc["seals"] == []


def test_photo_is_copied_into_the_job_folder_with_its_hash(cli, tmp_path):
    cli.ok("job", "import", METER_CHANGE)
    src = photo_file(tmp_path)
    name, digest = cli.ok("job", "photo", "DEMO-2025-0002", src, "--caption", "Cabinet").split()
    assert name == "photos/001-cabinet.jpg"
    assert digest == hashlib.sha256(src.read_bytes()).hexdigest()
    doc = show(cli, "DEMO-2025-0002")
    [photo] = doc["photos"]
    assert (photo["file"], photo["caption"], photo["original_name"]) == (
        name, "Cabinet", "cabinet.jpg")
    assert (Path(doc["folder"]) / name).read_bytes() == src.read_bytes()


def test_photo_that_does_not_exist_is_refused(cli, tmp_path):
    cli.ok("job", "import", METER_CHANGE)
    code, _, err = cli("job", "photo", "DEMO-2025-0002", tmp_path / "nowhere.jpg")
    assert code == 1 and "nowhere.jpg cannot be read" in err
    assert show(cli, "DEMO-2025-0002")["photos"] == []


def test_a_file_that_is_no_photo_is_refused_as_in_the_window(cli, tmp_path):
    cli.ok("job", "import", METER_CHANGE)
    notes = tmp_path / "notes.jpg"  # a photo by its name only
    notes.write_text("meter cabinet behind the stairs", "utf-8")
    code, _, err = cli("job", "photo", "DEMO-2025-0002", notes)
    assert code == 1 and "notes.jpg is not a photo (JPEG, PNG, HEIC or WebP)" in err
    code, _, err = cli("job", "photo", "DEMO-2025-0002", photo_file(tmp_path), "--caption",
                       "x" * 201)
    assert code == 1 and "at most 200 characters" in err
    assert show(cli, "DEMO-2025-0002")["photos"] == []


# -- report build / verify -------------------------------------------------------------------


def prepared_job(cli: Cli, tmp_path: Path) -> str:
    cli.ok("job", "import", METER_CHANGE)
    cli.ok("job", "note", "DEMO-2025-0002", "Old meter goes back to the calibration office.")
    cli.ok("job", "seal", "DEMO-2025-0002", "DE-4711", "--action", "removed")
    cli.ok("job", "photo", "DEMO-2025-0002", photo_file(tmp_path))
    return "DEMO-2025-0002"


def test_report_build_with_the_demo_pki_gives_a_report_that_verifies(cli, tmp_path):
    job_id = prepared_job(cli, tmp_path)
    out = tmp_path / "report"
    printed = cli.ok("report", "build", "--job", job_id, "--out", out, "--demo", "--lang", "en")
    assert printed.splitlines() == [str(out / "report.xml"), str(out / "report.xml.p7s"),
                                    str(out / "report.pdf")]
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")
    assert (out / "photos" / "001-cabinet.jpg").is_file()
    assert b"DE-4711" in (out / "report.xml").read_bytes()
    verified = cli.ok("report", "verify", out).splitlines()
    assert verified[-1].startswith("Content SHA-256: ")
    doc = json.loads(cli.ok("report", "verify", out / "report.xml", "--json"))
    assert doc["ok"] and doc["job_id"] == job_id


def test_report_verify_fails_after_the_report_was_changed(cli, tmp_path):
    job_id = prepared_job(cli, tmp_path)
    out = tmp_path / "report"
    cli.ok("report", "build", "--job", job_id, "--out", out, "--demo")
    xml = out / "report.xml"
    xml.write_bytes(xml.read_bytes().replace(b"DE-4711", b"DE-4712"))
    code, _, err = cli("report", "verify", out)
    assert code == 1 and "changed after it was signed" in err


def test_report_build_for_an_unknown_job_says_so(cli, tmp_path):
    code, _, err = cli("report", "build", "--job", "NOPE-1", "--out", tmp_path / "r", "--demo")
    assert code == 1 and "no job 'NOPE-1'" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("lang", "words"), [
    ("en", ["photo: The photo photos/001-cabinet.jpg (cabinet.jpg) of job DEMO-2025-0002 is "
            "missing from the job folder", "Put the original file back at", "--no-photos"]),
    ("de", ["photo: Das Foto photos/001-cabinet.jpg (cabinet.jpg) des Auftrags DEMO-2025-0002 "
            "fehlt im Auftragsordner", "Legen Sie die Originaldatei wieder unter", "--no-photos"]),
])
def test_report_build_names_a_photo_missing_from_the_job_folder(cli, tmp_path, monkeypatch,
                                                                 lang, words):
    job_id = prepared_job(cli, tmp_path)
    folder = Path(show(cli, job_id)["folder"])
    missing = folder / "photos" / "001-cabinet.jpg"
    digest = hashlib.sha256(missing.read_bytes()).hexdigest()
    missing.unlink()
    monkeypatch.setenv("SMGWCT_LANG", lang)
    out = tmp_path / "report"
    code, _, err = cli("report", "build", "--job", job_id, "--out", out, "--demo")
    assert code == 1
    for word in words:
        assert word in err, err
    assert str(missing) in err and digest in err
    assert "cannot be written" not in err and "geschrieben" not in err
    assert not out.exists()  # refused before anything was written
    # without attached photos the report can still be built, and it verifies
    cli.ok("report", "build", "--job", job_id, "--out", out, "--demo", "--no-photos")
    assert cli("report", "verify", out)[0] == 0
