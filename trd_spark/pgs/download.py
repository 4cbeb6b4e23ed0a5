"""Fetch the trait panel's harmonised scoring files from the PGS Catalog (``trd-spark download-scores``).

The PGS Catalog's own client, ``pgscatalog-core`` (the library behind pgsc_calc's
``pgscatalog-download``), does the work: ``CatalogQuery`` asks the REST API for each score's
harmonised file URL (``ftp_harmonized_scoring_files[build].positions``) and ``https_download``
streams the file and checks it against the Catalog's ``.md5``. We keep only what the client
does not do: skip files already present (verified against the ``.md5`` sidecar we write next to
each file), bounded retries from config (the client's default is 5 attempts 3-5 s apart, then an
FTP fallback that a Workbench without FTP egress only waits on), one-line errors, progress, and
a parse of every file by our own scoring-file reader so a bad file fails here, not hours later.

Layout written into ``directory``: ``{pgs_id}_hmPOS_{build}.txt.gz`` (the Catalog's file name)
and ``{pgs_id}_hmPOS_{build}.txt.gz.md5`` (hex digest, as the Catalog publishes it).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DownloadError, InputDataError
from .scoring_files import CHECKSUM_SUFFIX, harmonised_file_name

if TYPE_CHECKING:
    from ..config import PgsDownloadSettings

log = logging.getLogger(__name__)

# PGS Catalog score accession: "PGS" + six digits (https://www.pgscatalog.org/docs/).
PGS_ID_PATTERN = re.compile(r"^PGS\d{6}$")


@dataclass
class DownloadReport:
    """What ``download_scores`` did, per PGS ID: ``downloaded`` and ``present`` (skipped, with
    its checksum verified, or ``unverified`` when no sidecar exists) hold file paths."""

    downloaded: dict[str, Path] = field(default_factory=dict)
    present: dict[str, Path] = field(default_factory=dict)
    unverified: list[str] = field(default_factory=list)


def scoring_file_name(pgs_id: str, build: str) -> str:
    """The Catalog's harmonised file name, e.g. ``PGS000001_hmPOS_GRCh38.txt.gz``
    (``scoring_files.harmonised_file_name``, which the reader recognises it by)."""
    return harmonised_file_name(pgs_id, build)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _present(path: Path) -> bool | None:
    """True: present and matches its sidecar; None: present without a sidecar; False: absent
    or not matching (a truncated copy from an interrupted run is fetched again)."""
    if not path.is_file():
        return False
    sidecar = path.with_name(path.name + CHECKSUM_SUFFIX)
    if not sidecar.is_file():
        return None
    expected = sidecar.read_text().split()[:1]
    return bool(expected) and expected[0] == _md5(path)


def _unreachable(api_root: str, exc: BaseException) -> DownloadError:
    cause = exc.__cause__ or exc
    return DownloadError(
        f"cannot reach the PGS Catalog API ({type(cause).__name__}: {cause}). Without network access, "
        "download the harmonised files on a machine that has it (`trd-spark download-scores`) and copy "
        "them into pgs.scoring_files",
        where=api_root,
    )


def download_scores(
    pgs_ids: list[str],
    build: str,
    directory: Path,
    settings: PgsDownloadSettings,
    *,
    progress: Callable[[str], None] = log.info,
) -> DownloadReport:
    """Download each score's harmonised scoring file for ``build`` into ``directory``.

    ``pgs_ids``: PGS Catalog accessions (``PGS`` + 6 digits), unique. Files already present
    and matching their ``.md5`` sidecar are skipped. Every file (new or present) must then parse
    with ``read_scoring_file`` for ``build``.

    Raises ``ConfigError`` for a malformed or duplicated ID, or an ID the Catalog does not
    know (names the IDs); ``DownloadError`` when the API or a file cannot be fetched, or a file
    still fails its checksum after ``settings.attempts`` tries (names the URL);
    ``InputDataError`` when a downloaded file does not parse (names file and line).
    """
    bad = [i for i in pgs_ids if not PGS_ID_PATTERN.match(i)]
    if bad:
        raise ConfigError(f"not PGS Catalog score IDs (PGS + 6 digits): {', '.join(bad)}", where="trait panel")
    dupes = sorted({i for i in pgs_ids if pgs_ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"listed more than once: {', '.join(dupes)}", where="trait panel")

    directory.mkdir(parents=True, exist_ok=True)
    report = DownloadReport()
    todo: list[str] = []
    for pgs_id in pgs_ids:
        path = directory / scoring_file_name(pgs_id, build)
        state = _present(path)
        if state is False:
            todo.append(pgs_id)
            continue
        report.present[pgs_id] = path
        if state is None:
            report.unverified.append(pgs_id)
    progress(f"{len(report.present)} of {len(pgs_ids)} scoring files already present; {len(todo)} to download")

    if todo:
        urls = _harmonised_urls(todo, build, settings)
        for n, pgs_id in enumerate(todo, 1):
            path = directory / scoring_file_name(pgs_id, build)
            _fetch(urls[pgs_id], path, settings)
            path.with_name(path.name + CHECKSUM_SUFFIX).write_text(f"{_md5(path)}  {path.name}\n")
            report.downloaded[pgs_id] = path
            progress(f"[{n}/{len(todo)}] {pgs_id}: {path.stat().st_size / 1e6:.1f} MB, checksum verified")

    from .scoring_files import read_scoring_file

    for pgs_id in pgs_ids:
        path = directory / scoring_file_name(pgs_id, build)
        parsed = read_scoring_file(str(path), target_build=build)
        if parsed.pgs_id != pgs_id:
            raise InputDataError(f"file holds {parsed.pgs_id}, expected {pgs_id}", where=str(path))
    return report


def _retry_kwargs(settings: PgsDownloadSettings) -> dict:
    """Our retry policy for the client's tenacity-decorated calls (``fn.retry_with``).

    The last attempt's exception is re-raised as is (no FTP fallback: see module doc)."""
    import tenacity

    return {
        "stop": tenacity.stop_after_attempt(settings.attempts),
        "wait": tenacity.wait_fixed(settings.retry_wait_seconds),
        "retry_error_callback": lambda state: state.outcome.result(),
    }


def _harmonised_urls(pgs_ids: list[str], build: str, settings: PgsDownloadSettings) -> dict[str, str]:
    """PGS ID -> URL of its harmonised file for ``build``, from the Catalog's REST API."""
    import httpx
    from pgscatalog.core import CatalogQuery, GenomeBuild

    class Query(CatalogQuery):
        # The client reads its API root from this class attribute; a subclass points it at
        # the configured root (a mirror, or the loopback server of the tests).
        _rest_url_root = settings.catalog_api.rstrip("/")

    query = Query(accession=list(pgs_ids))
    try:
        results = Query.score_query.retry_with(**_retry_kwargs(settings))(query)
    except httpx.HTTPError as e:
        raise _unreachable(settings.catalog_api, e) from None
    except (ValueError, KeyError) as e:  # JSON that is not the Catalog's API
        raise DownloadError(f"unexpected answer from the PGS Catalog API: {e}", where=settings.catalog_api) from None
    results = results if isinstance(results, list) else [results]
    urls = {r.pgs_id: r.get_download_url(GenomeBuild.from_string(build)) for r in results}
    missing = [i for i in pgs_ids if i not in urls]
    if missing:
        raise ConfigError(f"not in the PGS Catalog: {', '.join(missing)}", where="trait panel")
    no_file = [i for i in pgs_ids if not urls[i]]
    if no_file:
        raise DownloadError(f"no harmonised {build} file in the PGS Catalog for {', '.join(no_file)}",
                            where=settings.catalog_api)
    return urls


def _fetch(url: str, path: Path, settings: PgsDownloadSettings) -> None:
    """Stream ``url`` to ``path`` with the client's md5 check (``https_download``); the file
    appears only when complete and verified (the client renames a temporary file)."""
    import httpx
    from pgscatalog.core.lib._download import https_download  # the client's downloader
    from pgscatalog.core.lib.pgsexceptions import ScoreChecksumError, ScoreDownloadError

    try:
        https_download.retry_with(**_retry_kwargs(settings))(
            url=url, out_path=path, directory=str(path.parent), overwrite=True,
        )
    except ScoreChecksumError as e:
        # The client does not check the HTTP status: a missing file fails its checksum.
        status = httpx.head(url, follow_redirects=True).status_code
        if status >= 400:
            raise DownloadError(f"HTTP {status}: the file is not served at this URL", where=url) from None
        raise DownloadError(f"checksum mismatch after {settings.attempts} attempt(s): {e}", where=url) from None
    except (ScoreDownloadError, httpx.HTTPError) as e:
        raise _unreachable(url, e) from None
