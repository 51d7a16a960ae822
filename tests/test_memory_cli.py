"""Tests for modlayers/lessons/memory/cli.py, run in-process on a tiny configuration."""

import json

import pytest

from modlayers.__main__ import main as modlayers_main
from modlayers.lessons.memory.cli import main

TINY = ["--layers", "2", "--hidden", "16", "--heads", "2", "--seq-len", "16", "--batch", "2", "--repeats", "1",
        "--no-progress"]


def test_table_json_and_plot(tmp_path, capsys):
    json_path, plot_path = tmp_path / "m.json", tmp_path / "m.png"
    code = main(TINY + ["--policies", "off,every-layer,selective", "--json", str(json_path), "--plot", str(plot_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "saved MiB" in out and "memory x off" in out and "every-layer" in out and "device: cpu" in out
    data = json.loads(json_path.read_text())
    assert [row["policy"] for row in data["rows"]] == ["off", "every-layer", "selective"]
    assert data["rows"][0]["memory_ratio"] == 1.0
    assert data["rows"][1]["saved_bytes"] < data["rows"][0]["saved_bytes"]
    assert plot_path.stat().st_size > 1000


def test_sweep_over_sequence_length_writes_one_row_per_value_and_policy(tmp_path, capsys):
    json_path = tmp_path / "sweep.json"
    main(TINY + ["--policies", "off,every-layer", "--no-peak", "--sweep", "seq-len=8,16", "--json", str(json_path),
                 "--plot", str(tmp_path / "sweep.png")])
    rows = json.loads(json_path.read_text())["rows"]
    assert [(row["sweep_value"], row["policy"]) for row in rows] == [(8, "off"), (8, "every-layer"), (16, "off"), (16, "every-layer")]
    assert rows[2]["saved_bytes"] > rows[0]["saved_bytes"]
    assert "seq_len" in capsys.readouterr().out


def test_dispatch_through_python_dash_m_modlayers(capsys):
    assert modlayers_main(["memory"] + TINY + ["--policies", "off", "--no-peak"]) == 0
    assert "off" in capsys.readouterr().out


@pytest.mark.parametrize(
    "options,message",
    [
        (["--policies", "off,bogus"], "Unknown memory policy 'bogus'. Valid policies: off, every-layer"),
        (["--hidden", "30", "--heads", "4"], "must divide --hidden"),
        (["--sweep", "width=1,2"], "NAME one of layers, seq-len, batch"),
        (["--dropout", "1.5"], "argument --dropout: must be a number in [0, 1), got 1.5"),
        (["--plot", "out.txt"], ".png"),
        (["--device", "tpu"], "--device must be auto, cpu, cuda"),
    ],
)
def test_bad_options_exit_2_with_a_message_that_says_what_is_valid(options, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(TINY + options)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_device_cuda_without_a_gpu_says_so(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        main(TINY + ["--device", "cuda"])
    assert "no GPU" in capsys.readouterr().err


def test_preset_fills_in_what_the_command_line_did_not_set(capsys):
    main(["--preset", "tiny", "--policies", "off", "--no-peak", "--no-progress"])
    assert "layers=2 hidden=32" in capsys.readouterr().out
