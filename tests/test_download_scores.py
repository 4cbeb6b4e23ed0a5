"""`trd-spark download-scores` end to end against a PGS Catalog stand-in on loopback.

The server answers the Catalog's REST route the client uses (``/rest/score/search?pgs_ids=``,
JSON with ``ftp_harmonized_scoring_files``) and serves the files and their ``.md5`` in the
Catalog's layout; nothing leaves the machine. The real client (pgscatalog-core) does the HTTP.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from trd_spark.config import PgsDownloadSettings
from trd_spark.errors import ConfigError, DownloadError, InputDataError
from trd_spark.pgs.download import download_scores, scoring_file_name


def harmonised_text(pgs_id: str, weights: tuple[float, ...] = (0.5, -0.25)) -> str:
    rows = "".join(
        f"rs{i}\t1\t{1000 * i}\tA\tG\t{w}\tENSEMBL\trs{i}\t1\t{1000 * i + 7}\t\n" for i, w in enumerate(weights, 1)
    )
    return (
        "###PGS CATALOG SCORING FILE\n#format_version=2.0\n"
        f"#pgs_id={pgs_id}\n#trait_reported=test trait\n#genome_build=GRCh37\n"
        f"#variants_number={len(weights)}\n#weight_type=beta\n#HmPOS_build=GRCh38\n"
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\t"
        "hm_source\thm_rsID\thm_chr\thm_pos\thm_inferOtherAllele\n" + rows
    )


class Catalog:
    """State of the stand-in: files by name, md5s by name (overridable), request log."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.md5: dict[str, str] = {}
        self.requests: list[str] = []
        self.listed: set[str] = set()  # IDs the API knows

    def add(self, pgs_id: str, text: str | None = None) -> None:
        name = scoring_file_name(pgs_id, "GRCh38")
        data = gzip.compress((text or harmonised_text(pgs_id)).encode())
        self.files[name] = data
        self.md5[name] = hashlib.md5(data).hexdigest()
        self.listed.add(pgs_id)


@pytest.fixture()
def catalog():
    state = Catalog()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _send(self, code: int, body: bytes, ctype: str = "application/octet-stream") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            url = urlparse(self.path)
            state.requests.append(f"{self.command} {url.path}")
            base = f"http://127.0.0.1:{self.server.server_port}"
            if url.path == "/rest/score/search":
                ids = parse_qs(url.query)["pgs_ids"][0].split(",")
                results = [
                    {
                        "id": i,
                        "ftp_scoring_file": f"{base}/files/{i}.txt.gz",
                        "ftp_harmonized_scoring_files": {
                            "GRCh37": {"positions": f"{base}/files/{i}_hmPOS_GRCh37.txt.gz"},
                            "GRCh38": {"positions": f"{base}/files/{scoring_file_name(i, 'GRCh38')}"},
                        },
                        "license": "test",
                    }
                    for i in ids
                    if i in state.listed
                ]
                self._send(200, json.dumps({"count": len(results), "results": results}).encode(), "application/json")
                return
            name = url.path.removeprefix("/files/")
            if name.endswith(".md5") and name[:-4] in state.md5:
                self._send(200, f"{state.md5[name[:-4]]}  {name[:-4]}\n".encode(), "text/plain")
            elif name in state.files:
                self._send(200, state.files[name])
            else:
                self._send(404, b"not found")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.api = f"http://127.0.0.1:{server.server_port}/rest"
    yield state
    server.shutdown()
    server.server_close()


def settings(api: str, **kw) -> PgsDownloadSettings:
    return PgsDownloadSettings(catalog_api=api, attempts=2, retry_wait_seconds=0, **kw)


def test_fetches_verifies_and_parses(catalog, tmp_path):
    catalog.add("PGS000001")
    catalog.add("PGS000002", harmonised_text("PGS000002", (1.0, 2.0, 3.0)))
    lines: list[str] = []
    report = download_scores(["PGS000001", "PGS000002"], "GRCh38", tmp_path, settings(catalog.api),
                             progress=lines.append)
    assert sorted(report.downloaded) == ["PGS000001", "PGS000002"]
    for pgs_id in ("PGS000001", "PGS000002"):
        name = scoring_file_name(pgs_id, "GRCh38")
        assert (tmp_path / name).read_bytes() == catalog.files[name]
        assert (tmp_path / f"{name}.md5").read_text().split()[0] == catalog.md5[name]
    assert lines[0] == "0 of 2 scoring files already present; 2 to download"
    assert lines[-1].startswith("[2/2] PGS000002:") and "checksum verified" in lines[-1]
    # no temporary file left beside the downloads
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [n for i in ("PGS000001", "PGS000002") for n in (scoring_file_name(i, "GRCh38"), scoring_file_name(i, "GRCh38") + ".md5")]
    )


def test_skip_if_present_and_refetch_when_corrupt(catalog, tmp_path):
    catalog.add("PGS000001")
    catalog.add("PGS000002")
    download_scores(["PGS000001", "PGS000002"], "GRCh38", tmp_path, settings(catalog.api))
    catalog.requests.clear()

    again = download_scores(["PGS000001", "PGS000002"], "GRCh38", tmp_path, settings(catalog.api))
    assert again.downloaded == {} and sorted(again.present) == ["PGS000001", "PGS000002"]
    assert catalog.requests == []  # nothing asked of the Catalog

    # a truncated copy (interrupted transfer) no longer matches its sidecar: fetched again
    name = scoring_file_name("PGS000002", "GRCh38")
    (tmp_path / name).write_bytes(catalog.files[name][:10])
    third = download_scores(["PGS000001", "PGS000002"], "GRCh38", tmp_path, settings(catalog.api))
    assert list(third.downloaded) == ["PGS000002"]
    assert (tmp_path / name).read_bytes() == catalog.files[name]


def test_file_without_sidecar_is_kept_and_reported_unverified(catalog, tmp_path):
    name = scoring_file_name("PGS000003", "GRCh38")
    (tmp_path / name).write_bytes(gzip.compress(harmonised_text("PGS000003").encode()))
    report = download_scores(["PGS000003"], "GRCh38", tmp_path, settings(catalog.api))
    assert report.unverified == ["PGS000003"] and report.downloaded == {}


def test_checksum_mismatch_is_one_error_and_leaves_no_file(catalog, tmp_path):
    catalog.add("PGS000001")
    name = scoring_file_name("PGS000001", "GRCh38")
    catalog.md5[name] = "0" * 32
    with pytest.raises(DownloadError, match=r"checksum mismatch after 2 attempt\(s\)") as e:
        download_scores(["PGS000001"], "GRCh38", tmp_path, settings(catalog.api))
    assert name in str(e.value)
    assert list(tmp_path.iterdir()) == []
    assert catalog.requests.count(f"GET /files/{name}") == 2  # retried as configured


def test_file_not_served_names_the_http_status(catalog, tmp_path):
    catalog.add("PGS000001")
    name = scoring_file_name("PGS000001", "GRCh38")
    # the API still lists the score, but neither the file nor its md5 is served
    del catalog.files[name], catalog.md5[name]
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_scores(["PGS000001"], "GRCh38", tmp_path, settings(catalog.api))


def test_score_unknown_to_the_catalog(catalog, tmp_path):
    catalog.add("PGS000001")
    with pytest.raises(ConfigError, match="not in the PGS Catalog: PGS999999"):
        download_scores(["PGS000001", "PGS999999"], "GRCh38", tmp_path, settings(catalog.api))


@pytest.mark.parametrize(
    "ids, message",
    [(["PGS1"], "not PGS Catalog score IDs"), (["PGS000001", "PGS000001"], "listed more than once: PGS000001")],
    ids=["malformed", "duplicated"],
)
def test_ids_checked_before_any_request(catalog, tmp_path, ids, message):
    with pytest.raises(ConfigError, match=message):
        download_scores(ids, "GRCh38", tmp_path, settings(catalog.api))
    assert catalog.requests == []


def test_no_network_is_one_clear_error(tmp_path):
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=r"cannot reach the PGS Catalog API .*ConnectError.*copy them into pgs.scoring_files"):
        download_scores(["PGS000001"], "GRCh38", tmp_path, settings(f"http://127.0.0.1:{port}/rest"))


def test_downloaded_file_must_be_the_score_asked_for(catalog, tmp_path):
    catalog.add("PGS000001", harmonised_text("PGS000009"))
    with pytest.raises(InputDataError, match="holds PGS000009, expected PGS000001"):
        download_scores(["PGS000001"], "GRCh38", tmp_path, settings(catalog.api))


def test_cli_downloads_the_panel(catalog, tmp_path, monkeypatch):
    """The command reads the panel's IDs from the config and writes into the configured directory."""
    import yaml

    from trd_spark.cli import main

    repo = Path(__file__).resolve().parent.parent
    panel = {"domains": ["sleep"], "scores": [
        {"pgs_id": "PGS000001", "trait": "Insomnia", "domain": "sleep"},
        {"pgs_id": None, "trait": "Chronotype", "domain": "sleep"},
    ]}
    (tmp_path / "panel.yaml").write_text(yaml.safe_dump(panel))
    cfg = yaml.safe_load((repo / "conf" / "toy.yaml").read_text())
    cfg["pgs"]["trait_panel"] = str(tmp_path / "panel.yaml")
    cfg["pgs"]["download"] = {"directory": str(tmp_path / "scores"), "catalog_api": catalog.api,
                              "attempts": 1, "retry_wait_seconds": 0}
    cfg["phenotypes"]["concept_sets"] = str(repo / "conf" / cfg["phenotypes"]["concept_sets"])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    catalog.add("PGS000001")
    assert main(["download-scores", "--config", str(tmp_path / "c.yaml")]) == 0
    assert (tmp_path / "scores" / scoring_file_name("PGS000001", "GRCh38")).is_file()
    catalog.md5.clear()
    catalog.files.clear()
    assert main(["download-scores", "--config", str(tmp_path / "c.yaml")]) == 0  # present: skipped


def test_the_download_directory_is_read_as_scoring_files(catalog, tmp_path):
    """The directory download-scores fills (default: the first pgs.scoring_files entry; on AoU
    copied to the bucket the config lists, README 'From a fresh AoU workspace') is a valid
    pgs.scoring_files entry: its .md5 sidecars are left out. Session 18 review: each sidecar was
    read as a scoring file and the pgs stage stopped ('header has no #pgs_id')."""
    from trd_spark.config import PgsSettings
    from trd_spark.pgs.scoring_files import read_scoring_files

    catalog.add("PGS000001")
    download_scores(["PGS000001"], "GRCh38", tmp_path, settings(catalog.api))
    assert (tmp_path / (scoring_file_name("PGS000001", "GRCh38") + ".md5")).is_file()
    pgs = PgsSettings(scoring_files=[str(tmp_path)], trait_panel="unused.yaml")
    assert [(sf.pgs_id, sf.path) for sf in read_scoring_files(None, pgs, "GRCh38")] == [
        ("PGS000001", str(tmp_path / scoring_file_name("PGS000001", "GRCh38")))]


def test_copies_for_two_builds_in_one_directory_are_read_one_per_build(catalog, tmp_path):
    """Datasets on two builds: download-scores writes each score's GRCh37 and GRCh38 copies into
    one directory (cli: one download per build the datasets use). Read for a build, the other
    build's copy is left out (``scoring_files.other_build_copies``). Session 18 review: it was
    parsed too and stopped the pgs stage ('scoring file is on build GRCh37 (harmonised to
    GRCh37) but the dataset is GRCh38'), or with a liftover was a second file of its score."""
    from trd_spark.config import PgsSettings
    from trd_spark.pgs.scoring_files import read_scoring_files

    catalog.add("PGS000001")
    name37 = scoring_file_name("PGS000001", "GRCh37")
    data = gzip.compress(harmonised_text("PGS000001").replace("#HmPOS_build=GRCh38", "#HmPOS_build=GRCh37").encode())
    catalog.files[name37], catalog.md5[name37] = data, hashlib.md5(data).hexdigest()
    for build in ("GRCh37", "GRCh38"):
        download_scores(["PGS000001"], build, tmp_path, settings(catalog.api))
    pgs = PgsSettings(scoring_files=[str(tmp_path)], trait_panel="unused.yaml")
    for build in ("GRCh37", "GRCh38"):
        (sf,) = read_scoring_files(None, pgs, build)
        assert (sf.path, sf.positions_from) == (str(tmp_path / scoring_file_name("PGS000001", build)), "harmonised")


def test_the_pgs_manifest_names_each_builds_own_copy_and_notes(tmp_path):
    """Datasets on two builds read each build's own Catalog copy of a score (previous test): the
    pgs manifest's ``notes.scoring_files`` and ``notes.scoring_file_notes`` say which file, with
    which checksum and notes, made the scores on each build. Keyed by pgs_id alone (session 18,
    58ff52e), they named the first build's file for both builds, and the second build's notes
    replaced the first's (here the GRCh37 copy's variant without a GRCh37 position, a count, by
    the GRCh38 copy's #variants_number note)."""
    from trd_spark.config import PgsSettings
    from trd_spark.pgs.scoring_files import read_scoring_files
    from trd_spark.pgs.stage import scoring_file_notes, scoring_file_provenance

    text37 = harmonised_text("PGS000001").replace("#HmPOS_build=GRCh38", "#HmPOS_build=GRCh37")
    text37 = text37.replace("rs2\t1\t2007\t\n", "rs2\t\t\t\n")  # rs2: no GRCh37 position
    text38 = harmonised_text("PGS000001").replace("#variants_number=2", "#variants_number=3")  # a note too
    data = {"GRCh37": gzip.compress(text37.encode()), "GRCh38": gzip.compress(text38.encode())}
    for build, blob in data.items():
        (tmp_path / scoring_file_name("PGS000001", build)).write_bytes(blob)
    pgs = PgsSettings(scoring_files=[str(tmp_path)], trait_panel="unused.yaml")
    by_build = {build: read_scoring_files(None, pgs, build) for build in ("GRCh37", "GRCh38")}

    made = scoring_file_provenance(None, by_build)  # type: ignore[arg-type]  # local files: no Spark
    assert list(made) == ["PGS000001"]
    for build, blob in data.items():
        assert made["PGS000001"][build] == {
            "path": str(tmp_path / scoring_file_name("PGS000001", build)), "bytes": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(), "genome_build": "GRCh37", "HmPOS_build": build,
            "weight_type": "beta", "variants": 2, "positions": {"from": "harmonised", "build": build}}
    notes = scoring_file_notes(by_build)
    assert list(notes) == ["PGS000001"] and list(notes["PGS000001"]) == ["GRCh37", "GRCh38"]
    assert "1 variant has no position on GRCh37 (counted as not found)" in notes["PGS000001"]["GRCh37"]
    assert not any("no position" in n for n in notes["PGS000001"]["GRCh38"])


def test_the_reader_recognises_each_name_download_scores_writes():
    """``scoring_files.other_build_copies`` knows a Catalog copy by the name
    ``scoring_file_name`` gives it (one statement of the name: a regex restated it before), on
    either build, gzipped or not; another name is not a Catalog copy and is always read."""
    from trd_spark.pgs.scoring_files import other_build_copies

    names = [f"dir/{scoring_file_name(i, b)}" for i in ("PGS000001", "PGS000002") for b in ("GRCh37", "GRCh38")]
    assert other_build_copies(names, "GRCh38") == [names[0], names[2]]
    assert other_build_copies(names, "GRCh37") == [names[1], names[3]]
    gunzipped = [n.removesuffix(".gz") for n in names]
    assert other_build_copies(gunzipped, "GRCh38") == [gunzipped[0], gunzipped[2]]
    others = ["PGS000001_hmPOS_GRCh36.txt.gz", "PGS1_hmPOS_GRCh37.txt.gz", "PGS000001_hmPOS_GRCh37.tsv",
              "PGS000001.txt.gz", scoring_file_name("PGS000001", "GRCh38")]
    assert other_build_copies(others, "GRCh38") == []
