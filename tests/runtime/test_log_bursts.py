"""The runner's log handler: a burst of lines logged on the loop in one write, each line whole."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

from kedro_krt.node.runner.node_base import _StdoutBursts


class _Counting(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _logger(stream: _Counting) -> logging.Logger:
    handler = _StdoutBursts(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"test-bursts-{id(stream)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    return logger


def test_lines_of_one_turn_of_the_loop_in_one_write() -> None:
    stream = _Counting()
    log = _logger(stream)

    async def burst() -> None:
        for i in range(5):
            log.info("message %d", i)
        assert stream.writes == 0  # not yet: when the loop runs its callbacks
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        log.info("next turn")

    asyncio.run(burst())
    logging.getLogger(log.name).handlers[0].flush()
    assert stream.getvalue() == "".join(f"INFO message {i}\n" for i in range(5)) + "INFO next turn\n"
    assert stream.writes == 2


def test_off_the_loop_written_at_once_after_what_waits() -> None:
    stream = _Counting()
    log = _logger(stream)
    log.info("before the loop")
    assert stream.getvalue() == "INFO before the loop\n"

    async def mixed() -> None:
        log.info("on the loop")
        thread = threading.Thread(target=log.warning, args=("from a thread",))
        thread.start()
        thread.join()

    asyncio.run(mixed())
    assert stream.getvalue() == (
        "INFO before the loop\nINFO on the loop\nWARNING from a thread\n"
    )
