"""The wheel is all a deployment needs: it carries the migrations and can make the schema."""

import sqlite3
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # skipped by `make test-fast`

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources, and a
    # test run must not touch the checkout.
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(build / "src.tar"), "HEAD"],
        check=True,
    )
    # Uncommitted changes count too (a developer runs the tests before committing).
    subprocess.run(["tar", "-xf", str(build / "src.tar"), "-C", str(build)], check=True)
    for path in _working_tree_files():
        target = build / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / path).read_bytes())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(build),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("billhive-*.whl")
    return built


def _working_tree_files() -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [name for name in listed if (ROOT / name).is_file()]


def test_the_wheel_carries_every_migration(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"billhive/migrations/versions/{p.name}"
        for p in (ROOT / "billhive" / "migrations" / "versions").glob("*.py")
    }
    assert expected, "no migrations found in the checkout"
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    assert {"billhive/migrations/env.py", "billhive/migrations/script.py.mako"} <= names


def test_the_installed_wheel_upgrades_an_empty_database(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    # The dependencies come from this environment; the billhive package from the wheel
    # (a path listed in a .pth comes after the venv's own site-packages).
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    database = tmp_path / "fresh.db"
    env = {"BILLHIVE_DATABASE_URL": f"sqlite:///{database}", "PATH": str(env_dir / "bin")}
    where = subprocess.run(
        [str(python), "-c", "import billhive; print(billhive.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout
    assert where.startswith(str(env_dir)), f"billhive imported from {where}, not the wheel"
    result = subprocess.run(
        [str(env_dir / "bin" / "billhive"), "db", "upgrade"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"tenants", "calls", "alembic_version"} <= tables
