"""The client protocol's vocabulary: command and reply names, error codes, close codes and
the named server-initiated closes (:class:`Disconnect`).

Shared by the gateway, the Python client SDK and the test/load tools. Pure data.
"""

from adstack_protocol.codes import CloseCode, Disconnect, ErrorCode, close_is_terminal
from adstack_protocol.names import ClientCommand, ServerEvent

__all__ = ["ClientCommand", "CloseCode", "Disconnect", "ErrorCode", "ServerEvent",
           "close_is_terminal"]
