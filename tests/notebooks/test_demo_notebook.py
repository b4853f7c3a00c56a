"""The demo notebook runs headless through papermill against a real emulator and shows the company."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from qbo_toolkit.emulator import EmulatorConfig, serve

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
def test_connect_demo_notebook_shows_company_and_customers(tmp_path: Path) -> None:
    with serve(EmulatorConfig(auto_approve=True)) as emu:
        info = tmp_path / "emulator.json"
        info.write_text(json.dumps(emu.info))
        out = tmp_path / "connect_demo.ipynb"
        pm.execute_notebook(str(NOTEBOOKS / "connect_demo.ipynb"), str(out), parameters={"emulator_info": str(info)},
                            kernel_name="python3", progress_bar=False)
        realm = emu.info["realm_id"]
    nb = nbformat.read(out, as_version=4)
    text = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "Larkspur Landscaping &amp; Repair" in text
    assert realm in text
    assert "Amy&#x27;s Bird Sanctuary" in text or "Amy's Bird Sanctuary" in text
    # the client secret and tokens never reach the executed notebook
    assert emu.info["client_secret"] not in out.read_text()
    params = nb.metadata["papermill"]["parameters"]
    assert set(params) == {"emulator_info"}
