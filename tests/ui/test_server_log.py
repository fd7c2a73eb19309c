"""The browser tests' reading of the server log: a browser that went away while the server wrote to
it is not a server failure (in either of the two forms Tornado logs it), anything else is."""

from __future__ import annotations

from tests.ui.conftest import _client_went_away

WS = """:
  File ".../tornado/websocket.py", line 1142, in wrapper
    raise WebSocketClosedError()
tornado.websocket.WebSocketClosedError
"""


def test_a_closed_websocket_is_the_client_going_away_in_both_log_forms():
    assert _client_went_away(WS + "2026-12-08 02:03:03,660 WARNING Failed sending message as connection was closed\n")
    # asyncio's form: the task's exception was never retrieved, then its "future: <Task ...>" line
    assert _client_went_away(WS + "2026-12-08 02:03:03,669 ERROR asyncio: Task exception was never retrieved\n"
                                  "future: <Task finished name='Task-17716' coro=<WebSocketProtocol13.write_message."
                                  "<locals>.wrapper() done> exception=WebSocketClosedError()>\n")


def test_any_other_exception_is_a_server_failure():
    boom = ':\n  File "app/x.py", line 1, in f\n    raise ValueError("boom")\nValueError: boom\n'
    assert not _client_went_away(boom)
    assert not _client_went_away(boom + "2026-12-08 02:03:03,669 ERROR asyncio: Task exception was never retrieved\n"
                                        "future: <Task finished name='T' coro=<f()> exception=ValueError('boom')>\n")
