"""lczmap search against a STAC API on 127.0.0.1: paging, the pass/orbit filters, duplicates,
the table, a 503 that recovers, a 403 and an unreachable API in one line with nothing written."""

import json

import pytest
from _remote_fixtures import item
from _server import Server
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import ConfigError, RemoteError
from lczmap.remote import format_table, search_scenes, write_items

pytest.importorskip("pystac_client")


def _items(url, bounds):
    its = [
        item(
            f"S1A_{d:02d}",
            url,
            "scenes/a",
            bounds,
            f"2023-06-{d:02d}T05:00:00Z",
            orbit=44 if d % 2 else 117,
            orbit_pass="ascending" if d % 2 else "descending",
        )
        for d in range(1, 26)
    ]
    dup = item("S1A_03_reprocessed", url, "scenes/a", bounds, "2023-06-03T05:00:00Z", orbit=44)
    dup["properties"]["updated"] = "2024-01-01T00:00:00Z"
    hh = item("S1A_HH", url, "scenes/a", bounds, "2023-06-05T06:00:00Z")
    hh["assets"] = {"hh": hh["assets"]["vv"]}
    late = item("S1A_july", url, "scenes/a", bounds, "2023-07-15T05:00:00Z")
    return [*its, dup, hh, late]


def test_search_pages_filters_and_drops_duplicates(tmp_path, twin_scene):
    root, bounds, _ = twin_scene
    with Server(root) as srv:
        srv.items = _items(srv.url, bounds)
        aoi = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, bounds[2] + 0.01, bounds[3] + 0.01)
        r = search_scenes(
            aoi, "2023-06-01/2023-06-30", stac=f"{srv.url}/stac", collections=["s1-test"], retry_delay=0.01, page_size=10
        )
        posts = [q for q in srv.requests if q[1] == "/stac/search"]
        assert len(posts) >= 3  # 27 items in June at 10 per page
        ids = [it.id for it in r.items]
        assert "S1A_july" not in ids and "S1A_HH" not in ids
        assert "S1A_03_reprocessed" in ids and "S1A_03" not in ids  # same acquisition: the last updated kept
        assert ("S1A_03", "duplicate of S1A_03_reprocessed") in r.dropped
        assert any(i == "S1A_HH" and "no VV or VH" in why for i, why in r.dropped)
        assert len(ids) == 25
        assert all(0 < row.cover < 100 for row in r.rows)  # the area sticks out of the scene
        assert r.rows[0].datetime >= r.rows[-1].datetime
        asc = search_scenes(
            aoi, "2023-06-01/2023-06-30", stac=f"{srv.url}/stac", collections=["s1-test"], orbit_pass="descending", orbit=117
        )
        assert {row.relative_orbit for row in asc.rows} == {117} and {row.orbit_pass for row in asc.rows} == {"descending"}
        table = format_table(asc)
        assert "descending" in table and "117" in table and "duplicates:" in table
        out = write_items(asc, tmp_path / "items.json")
        doc = json.loads(out.read_text())
        assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(asc.items)
        assert doc["features"][0]["assets"]["vv"]["href"].startswith(srv.url)


def test_search_503_recovers_403_and_unreachable_in_one_line(tmp_path, twin_scene):
    root, bounds, _ = twin_scene
    aoi = bounds
    with Server(root) as srv:
        srv.items = _items(srv.url, bounds)[:3]
        srv.faults["/stac/search"] = [503, 503]
        r = search_scenes(aoi, "2023-06-01/2023-06-30", stac=f"{srv.url}/stac", collections=["s1-test"], retry_delay=0.01)
        assert len(r.items) == 3
        srv.faults["/stac/search"] = [403]
        runner = CliRunner()
        res = runner.invoke(
            main,
            [
                "search",
                "--aoi",
                ",".join(map(str, aoi)),
                "--datetime",
                "2023-06-01/2023-06-30",
                "--stac",
                f"{srv.url}/stac",
                "--collection",
                "s1-test",
                "-o",
                str(tmp_path / "x.json"),
            ],
        )
        assert res.exit_code == 1 and "refused access (403)" in res.output and len(res.output.strip().splitlines()) == 1
        assert not list(tmp_path.iterdir())
        with pytest.raises(RemoteError, match="no scene"):
            write_items(
                search_scenes(aoi, "2020-01-01/2020-01-31", stac=f"{srv.url}/stac", collections=["s1-test"]), tmp_path / "y.json"
            )
        assert not list(tmp_path.iterdir())
    with pytest.raises(RemoteError, match="cannot reach the STAC API"):
        search_scenes(aoi, "2023-06-01/2023-06-30", stac=srv.url + "/stac", retries=1, retry_delay=0.01, timeout=2)
    with pytest.raises(ConfigError, match="--pass"):
        search_scenes(aoi, "2023", orbit_pass="sideways")


def test_search_cli_writes_items_and_table(tmp_path, twin_scene):
    root, bounds, _ = twin_scene
    with Server(root) as srv:
        srv.items = _items(srv.url, bounds)[:4]
        out = tmp_path / "items.json"
        args = [
            "search",
            "--aoi",
            ",".join(map(str, bounds)),
            "--datetime",
            "2023-06-01/2023-06-30",
            "--stac",
            f"{srv.url}/stac",
            "--collection",
            "s1-test",
            "--pass",
            "ascending",
            "-o",
            str(out),
        ]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        assert "ascending" in res.output and "100.0%" in res.output and f"wrote {out} (2 items)" in res.output
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1 and "--overwrite" in res.output
