"""The dev supervisor stops the whole tree when one child dies."""

import sys

from billhive.dev.supervisor import Child, Supervisor


class Lines:
    def __init__(self) -> None:
        self.text = ""

    def write(self, value: str) -> None:
        self.text += value

    def flush(self) -> None:
        pass


def test_a_dying_child_stops_the_others_and_fails_the_run() -> None:
    out = Lines()
    supervisor = Supervisor(out=out)  # type: ignore[arg-type]
    sleeper = supervisor.start(
        Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    )
    supervisor.start(Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"]))
    assert supervisor.wait(poll=0.05) == 1
    assert sleeper.process is not None and sleeper.process.poll() is not None
    assert "crasher exited with code 3" in out.text


def test_child_output_is_prefixed_with_its_name() -> None:
    out = Lines()
    supervisor = Supervisor(out=out)  # type: ignore[arg-type]
    child = supervisor.start(Child("echo", [sys.executable, "-c", "print('hello')"]))
    assert child.process is not None
    child.process.wait()
    supervisor.stop_all()
    import time

    deadline = time.monotonic() + 5
    while "hello" not in out.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "echo      | hello" in out.text
