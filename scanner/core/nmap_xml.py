"""nmap's XML output (``-oX``, and masscan's imitation of it) as a stream of hosts with open TCP ports (pure).

The elements read (nmap ``docs/nmap.dtd``, ``output.cc``)::

    <nmaprun>
      <host>
        <address addr="10.0.0.1" addrtype="ipv4"/>           also ipv6, and mac (skipped)
        <hostnames><hostname name="expe.example.com" type="user"/>
                   <hostname name="host-1.example.net" type="PTR"/></hostnames>
        <ports><extraports state="closed" count="997"/>
               <port protocol="tcp" portid="443"><state state="open" .../>...</port></ports>
      </host>

Everything else (``hosthint``, scripts, OS guesses, traces) is passed over; a ``<port>`` counts
only inside ``<host><ports>``. The name kept is the one the user gave nmap (``type="user"``),
else the reverse-DNS name (``PTR``): the first is the name the user meant to reach.

Parsing is expat's, driven by handlers, so no tree is built and memory stays the size of one
host, however long the file. Line numbers come from expat itself. The XML is machine output,
but it may come from anywhere: a document type with an internal subset (where entities are
declared: "billion laughs", external entities) is refused before any entity is expanded. nmap
writes ``<!DOCTYPE nmaprun>``, which has none. (expat 2.4 and later also cap entity
amplification on their own; this does not depend on it.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from xml.parsers import expat

from scanner.core.discovered import Found, address_of, discovery_error, port_of

_CHUNK = 1 << 16  # characters handed to expat at a time


class _HostReader:
    """expat's handlers: they collect the hosts completed since the last chunk was fed."""

    def __init__(self, parser: expat.XMLParserType, source: str) -> None:
        self.parser = parser
        self.source = source
        self.stack: list[str] = []  # names of the open elements
        self.completed: list[Found] = []
        self._reset_host()

    def _reset_host(self) -> None:
        self.address: tuple[int, int] | None = None  # version, value
        self.user_name: str | None = None
        self.ptr_name: str | None = None
        self.ports: dict[int, None] = {}
        self.port: tuple[str, int] | None = None  # the <port> being read: protocol, number
        self.port_open = False

    def fail(self, what: str) -> Exception:
        return discovery_error(self.source, self.parser.CurrentLineNumber, what)

    def doctype(self, name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
        if internal:
            raise self.fail("a document type with declarations (<!DOCTYPE ... [...]>): nmap writes none")

    def entity(self, name: str, *_: object) -> None:
        raise self.fail(f"an entity declaration ({name}): nmap writes none")

    def start(self, name: str, attrs: dict[str, str]) -> None:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(name)
        if parent is None and name != "nmaprun":
            raise self.fail(f"expected nmap XML output (<nmaprun>), not <{name}>")
        if name == "host" and parent == "nmaprun":
            self._reset_host()
        elif name == "address" and parent == "host":
            self._address(attrs)
        elif name == "hostname" and parent == "hostnames" and self.stack[-3:-2] == ["host"]:
            self._hostname(attrs)
        elif name == "port" and parent == "ports" and self.stack[-3:-2] == ["host"]:
            if "portid" not in attrs:
                raise self.fail("<port> without portid")
            protocol = attrs.get("protocol", "")
            # Only a TCP port number must be one: an IP protocol scan (-sO) lists protocol 0.
            self.port = (protocol, self._port(attrs["portid"]) if protocol == "tcp" else 0)
            self.port_open = False
        elif name == "state" and parent == "port" and self.port is not None:
            if "state" not in attrs:
                raise self.fail("<state> without state")
            self.port_open = attrs["state"] == "open"

    def _port(self, text: str) -> int:
        return port_of(text, self.source, self.parser.CurrentLineNumber)

    def _address(self, attrs: dict[str, str]) -> None:
        if attrs.get("addrtype") == "mac":
            return
        if "addr" not in attrs:
            raise self.fail("<address> without addr")
        # masscan writes addrtype="ipv4" for IPv6 addresses too: the address says what it is.
        address = address_of(attrs["addr"], self.source, self.parser.CurrentLineNumber)
        if self.address is None:
            self.address = address

    def _hostname(self, attrs: dict[str, str]) -> None:
        name = attrs.get("name")
        if not name:
            return
        if attrs.get("type") == "user" and self.user_name is None:
            self.user_name = name
        elif attrs.get("type") == "PTR" and self.ptr_name is None:
            self.ptr_name = name

    def end(self, name: str) -> None:
        self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        if name == "port" and self.port is not None:
            protocol, port = self.port
            if protocol == "tcp" and self.port_open:
                self.ports[port] = None
            self.port = None
        elif name == "host" and parent == "nmaprun":
            if self.address is None:
                raise self.fail("<host> without an IP <address>")
            if self.ports:
                self.completed.append(
                    Found(*self.address, tuple(self.ports), self.user_name or self.ptr_name)
                )


def read_nmap_xml(lines: Iterable[str], source: str) -> Iterator[Found]:
    """Each ``<host>`` with open TCP ports, as soon as its ``</host>`` is read."""
    parser = expat.ParserCreate()
    reader = _HostReader(parser, source)
    parser.StartDoctypeDeclHandler = reader.doctype
    parser.EntityDeclHandler = reader.entity
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    chunk: list[str] = []
    size = last_line = 0
    for line in lines:
        last_line += 1
        chunk.append(line)
        size += len(line)
        if size >= _CHUNK:
            yield from _feed(parser, reader, "".join(chunk), source)
            chunk, size = [], 0
    yield from _feed(parser, reader, "".join(chunk), source)
    if reader.stack:
        raise discovery_error(
            source,
            last_line,
            f"the XML ends inside <{reader.stack[-1]}>: not a complete nmap file (an interrupted scan?)",
        )
    yield from _feed(parser, reader, "", source, final=True)


def _feed(
    parser: expat.XMLParserType, reader: _HostReader, text: str, source: str, *, final: bool = False
) -> Iterator[Found]:
    try:
        parser.Parse(text, final)
    except expat.ExpatError as exc:
        raise discovery_error(
            source, exc.lineno, f"not well-formed XML ({expat.ErrorString(exc.code)})"
        ) from None
    yield from reader.completed
    reader.completed.clear()
