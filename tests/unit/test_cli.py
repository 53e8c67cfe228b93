"""The `fanyi` command: subcommands reach their tools, mistakes are exit status 2."""

import pytest

from app.cli import COMMANDS, main


def test_unknown_command_lists_the_commands(capsys):
    assert main(["bogus"]) == 2
    out = capsys.readouterr()
    assert "unknown command 'bogus'" in out.err and all(f"fanyi {name}" in out.out for name in COMMANDS)


@pytest.mark.parametrize("command", ["batch", "eval", "finetune", "bench", "soak", "check", "models"])
def test_each_tool_answers_help(command, capsys):
    with pytest.raises(SystemExit) as done:  # argparse exits 0 after printing its help
        main([command, "--help"])
    assert done.value.code == 0 and "usage:" in capsys.readouterr().out


def test_serve_refuses_a_missing_config(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "none.yaml")]) == 2
    assert "no such config file" in capsys.readouterr().err
