"""Discovery output as targets: nmap XML and greppable, masscan list and JSON, zmap CSV.

The files here are written by the tests in the tools' real formats (masscan ``src/out-*.c``, nmap
``output.cc`` and ``docs/nmap.dtd``, zmap ``module_csv.c``), with what real scans leave in them:
closed and filtered ports, UDP, host hints, banner records, interrupted files. Nothing here runs
a discovery tool; the scans at the end go to the test lab on loopback.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.app.inputs import target_specs
from scanner.core.discovered import Found, address_of
from scanner.core.discovery import (
    DiscoveryOptions,
    InputFormat,
    check_options,
    discovered_specs,
    read_found,
    read_grepable,
    read_masscan_json,
    read_masscan_list,
    read_targets,
    read_zmap_csv,
    sniff,
)
from scanner.core.nmap_xml import read_nmap_xml
from scanner.core.targets import TargetError, expand, parse_csv, parse_target
from scanner.model import Role

# --- the files, as the tools write them ---------------------------------------------------------

NMAP_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<!-- Nmap 7.94SVN scan initiated Tue Mar  3 10:12:01 2026 as: nmap -sS -sU -v -p T:22,443,5061,7001,8443,U:5060 -oX scan.xml expe.example.com 10.20.0.0/30 -->
<nmaprun scanner="nmap" args="nmap -sS -sU -v -p T:22,443,5061,7001,8443,U:5060 -oX scan.xml expe.example.com 10.20.0.0/30" start="1772532721" startstr="Tue Mar  3 10:12:01 2026" version="7.94SVN" xmloutputversion="1.05">
<scaninfo type="syn" protocol="tcp" numservices="5" services="22,443,5061,7001,8443"/>
<scaninfo type="udp" protocol="udp" numservices="1" services="5060"/>
<verbose level="1"/>
<debugging level="0"/>
<hosthint><status state="up" reason="unknown-response" reason_ttl="0"/>
<address addr="192.0.2.10" addrtype="ipv4"/>
<hostnames>
<hostname name="expe.example.com" type="user"/>
</hostnames>
</hosthint>
<host starttime="1772532721" endtime="1772532722"><status state="up" reason="syn-ack" reason_ttl="52"/>
<address addr="192.0.2.10" addrtype="ipv4"/>
<hostnames>
<hostname name="expe.example.com" type="user"/>
<hostname name="host-192-0-2-10.isp.example.net" type="PTR"/>
</hostnames>
<ports><port protocol="tcp" portid="22"><state state="closed" reason="reset" reason_ttl="52"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="tcp" portid="443"><state state="open" reason="syn-ack" reason_ttl="52"/><service name="https" method="table" conf="3"/></port>
<port protocol="tcp" portid="5061"><state state="open" reason="syn-ack" reason_ttl="52"/><service name="sip-tls" method="table" conf="3"/></port>
<port protocol="tcp" portid="7001"><state state="filtered" reason="no-response" reason_ttl="0"/><service name="afs3-callback" method="table" conf="3"/></port>
<port protocol="tcp" portid="8443"><state state="open" reason="syn-ack" reason_ttl="52"/><service name="https-alt" method="table" conf="3"/></port>
<port protocol="udp" portid="5060"><state state="open|filtered" reason="no-response" reason_ttl="0"/><service name="sip" method="table" conf="3"/></port>
</ports>
<times srtt="12000" rttvar="5000" to="100000"/>
</host>
<host starttime="1772532721" endtime="1772532723"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="10.20.0.1" addrtype="ipv4"/>
<address addr="00:50:56:A1:2B:3C" addrtype="mac" vendor="VMware"/>
<hostnames>
<hostname name="expc.corp.example" type="PTR"/>
</hostnames>
<ports><extraports state="closed" count="3">
<extrareasons reason="reset" count="3" proto="tcp" ports="22,443,8443"/>
</extraports>
<port protocol="tcp" portid="5061"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="sip-tls" method="table" conf="3"/><script id="ssl-cert" output="Subject: commonName=expc.corp.example&#xa;Not valid after:  2027-01-01T00:00:00"><elem key="pem">-----BEGIN CERTIFICATE-----</elem></script></port>
<port protocol="tcp" portid="7001"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="afs3-callback" method="table" conf="3"/></port>
<port protocol="udp" portid="5060"><state state="open" reason="udp-response" reason_ttl="64"/><service name="sip" method="table" conf="3"/></port>
<port protocol="ip" portid="0"><state state="open" reason="proto-response" reason_ttl="64"/><service name="hopopt" conf="8" method="table"/></port>
</ports>
<os><portused state="open" proto="tcp" portid="5061"/><portused state="closed" proto="tcp" portid="22"/></os>
<trace port="22" proto="tcp"><hop ttl="1" ipaddr="10.20.0.1" rtt="0.40" host="expc.corp.example"/></trace>
<times srtt="400" rttvar="200" to="100000"/>
</host>
<host starttime="1772532721" endtime="1772532723"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="10.20.0.2" addrtype="ipv4"/>
<hostnames>
</hostnames>
<ports><extraports state="filtered" count="5">
<extrareasons reason="no-response" count="5" proto="tcp" ports="22,443,5061,7001,8443"/>
</extraports>
</ports>
</host>
<host><status state="down" reason="no-response" reason_ttl="0"/>
<address addr="10.20.0.3" addrtype="ipv4"/>
</host>
<runstats><finished time="1772532725" timestr="Tue Mar  3 10:12:05 2026" summary="Nmap done at Tue Mar  3 10:12:05 2026; 5 IP addresses (3 hosts up) scanned in 4.10 seconds" elapsed="4.10" exit="success"/><hosts up="3" down="2" total="5"/>
</runstats>
</nmaprun>
"""  # noqa: E501 (the tools write lines this long)

NMAP_XML_V6 = """\
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -6 -sT -p 443,5061 -oX six.xml expe6.example.com" start="1772532721" version="7.94SVN" xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="2" services="443,5061"/>
<verbose level="0"/>
<debugging level="0"/>
<host starttime="1772532721" endtime="1772532722"><status state="up" reason="syn-ack" reason_ttl="0"/>
<address addr="2001:db8:20::10" addrtype="ipv6"/>
<hostnames>
<hostname name="expe6.example.com" type="user"/>
</hostnames>
<ports><port protocol="tcp" portid="443"><state state="open" reason="syn-ack" reason_ttl="0"/><service name="https" method="table" conf="3"/></port>
<port protocol="tcp" portid="5061"><state state="open" reason="syn-ack" reason_ttl="0"/><service name="sip-tls" method="table" conf="3"/></port>
</ports>
</host>
<runstats><finished time="1772532722" timestr="Tue Mar  3 10:12:02 2026" elapsed="0.50" exit="success"/><hosts up="1" down="0" total="1"/>
</runstats>
</nmaprun>
"""  # noqa: E501 (the tools write lines this long)

# masscan -oX (src/out-xml.c): CRLF, one line per record, addrtype="ipv4" even for IPv6.
MASSCAN_XML = (
    '<?xml version="1.0"?>\r\n'
    "<!-- masscan v1.0 scan -->\r\n"
    '<nmaprun scanner="masscan" start="1772532721" version="1.0-BETA"  xmloutputversion="1.03">\r\n'
    '<scaninfo type="syn" protocol="tcp" />\r\n'
    '<host endtime="1772532722"><address addr="10.20.0.5" addrtype="ipv4"/><ports><port protocol="tcp" '
    'portid="443"><state state="open" reason="syn-ack" reason_ttl="52"/></port></ports></host>\r\n'
    '<host endtime="1772532722"><address addr="10.20.0.5" addrtype="ipv4"/><ports><port protocol="tcp" '
    'portid="443"><state state="open" reason="syn-ack" reason_ttl="52" /><service name="ssl" '
    'banner="TLS/1.2 cipher:0xc02f, expe.example.com"></service></port></ports></host>\r\n'
    '<host endtime="1772532723"><address addr="2001:db8::15" addrtype="ipv4"/><ports><port protocol="tcp" '
    'portid="7001"><state state="open" reason="syn-ack" reason_ttl="52"/></port></ports></host>\r\n'
    '<host endtime="1772532723"><address addr="10.20.0.6" addrtype="ipv4"/><ports><port protocol="tcp" '
    'portid="5061"><state state="closed" reason="rst-ack" reason_ttl="52"/></port></ports></host>\r\n'
    "<runstats>\r\n"
    '<finished time="1772532730" timestr="2026-03-03 10:12:10" elapsed="9" />\r\n'
    '<hosts up="2" down="1" total="3" />\r\n'
    "</runstats>\r\n"
    "</nmaprun>\r\n"
)

NMAP_GREPABLE = """\
# Nmap 7.94SVN scan initiated Tue Mar  3 10:12:01 2026 as: nmap -sS -sU -sV -p T:22,443,5061,7001,8443,U:5061 -oG scan.gnmap 10.20.0.0/29
Host: 10.20.0.1 (expc.corp.example)\tStatus: Up
Host: 10.20.0.1 (expc.corp.example)\tPorts: 22/open/tcp//ssh//OpenSSH 8.0 (protocol 2.0)/, 443/open/tcp//ssl|https//Cisco Expressway httpd, TLS only/, 5061/open/tcp//sip-tls///, 7001/filtered/tcp//afs3-callback///, 8443/closed/tcp//https-alt///\tIgnored State: closed (995)\tOS: Linux 4.15 - 5.8\tSeq Index: 262\tIP ID Seq: All zeros
Host: 10.20.0.2 ()\tStatus: Up
Host: 10.20.0.2 ()\tPorts: 7001/open/tcp//afs3-callback///, 5061/open|filtered/udp//sip-tls///
Host: 10.20.0.3 ()\tStatus: Up
Host: 10.20.0.3 ()\tPorts: 443/closed/tcp//https///, 5061/filtered/tcp//sip-tls///
Host: 10.20.0.4 ()\tStatus: Down
# Nmap done at Tue Mar  3 10:12:09 2026 -- 8 IP addresses (3 hosts up) scanned in 8.02 seconds
"""  # noqa: E501 (the tools write lines this long)

# masscan -oG (src/out-grepable.c): a Timestamp field first; banners as Port/Service/Banner records.
MASSCAN_GREPABLE = """\
# Masscan 1.3.2 scan initiated Tue Mar  3 10:12:01 2026
# Ports scanned: TCP(2;443-443,5061-5061) UDP(0;) SCTP(0;) PROTOCOLS(0;)
Timestamp: 1772532722\tHost: 10.20.0.5 ()\tPorts: 443/open/tcp//https//
Host: 10.20.0.5 ()\tPort: 443\tService: ssl\tBanner: TLS/1.2 cipher:0xc02f, expe.example.com
Timestamp: 1772532723\tHost: 10.20.0.6 ()\tPorts: 5061/closed/tcp//sip-tls//
Timestamp: 1772532724\tHost: 10.20.0.5 ()\tPorts: 5061/open/tcp//sip-tls//
# Masscan done at Tue Mar  3 10:12:31 2026
"""

# masscan -oL (src/out-text.c).
MASSCAN_LIST = """\
#masscan
open tcp 443 10.20.0.5 1772532722
banner tcp 443 10.20.0.5 1772532722 ssl TLS/1.2 cipher:0xc02f, expe.example.com
open tcp 5061 10.20.0.9 1772532723
banner tcp 5061 10.20.0.9 1772532723 unknown \\x16\\x03\\x03\\x00J\\x02\\x00\\x00F
open udp 5060 10.20.0.7 1772532724
open icmp 0 10.20.0.7 1772532724
up arp 0 10.20.0.8 1772532724
closed tcp 7001 10.20.0.6 1772532724
open tcp 7001 2001:db8::15 1772532725
open tcp 5061 10.20.0.5 1772532726
open tcp 443 10.20.0.5 1772532727
# end
"""

# masscan 1.3 -oJ (src/out-json.c): the comma comes before each record after the first.
MASSCAN_JSON = """\
[
{   "ip": "10.20.0.5",   "timestamp": "1772532722", "ports": [ {"port": 443, "proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 52} ] }
,
{   "ip": "10.20.0.5",   "timestamp": "1772532722", "ports": [ {"port": 443, "proto": "tcp", "service": {"name": "ssl", "banner": "TLS/1.2 cipher:0xc02f, expe.example.com"} } ] }
,
{   "ip": "10.20.0.6",   "timestamp": "1772532723", "ports": [ {"port": 7001, "proto": "tcp", "status": "closed", "reason": "rst-ack", "ttl": 52} ] }
,
{   "ip": "10.20.0.7",   "timestamp": "1772532723", "ports": [ {"port": 5060, "proto": "udp", "status": "open", "reason": "none", "ttl": 52} ] }
,
{   "ip": "10.20.0.7",   "timestamp": "1772532723", "ports": [ {"port": 0, "proto": "icmp", "status": "open", "reason": "none", "ttl": 52} ] }
,
{   "ip": "2001:db8::15",   "timestamp": "1772532724", "ports": [ {"port": 7001, "proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 52} ] }
,
{   "ip": "10.20.0.9",   "timestamp": "1772532725", "ports": [ {"port": 5061, "proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 52} ] }
]
"""  # noqa: E501 (the tools write lines this long)

# masscan 1.0 -oJ: the comma after each record, no brackets, and a closing line that is not JSON.
MASSCAN_JSON_OLD = """\
{ "ip": "10.20.0.5", "ports": [ {"port": 443, "proto": "tcp", "status": "open"} ] },
{ "ip": "10.20.0.9", "ports": [ {"port": 5061, "proto": "tcp", "status": "open"} ] },
{ "ip": "10.20.0.6", "ports": [ {"port": 7001, "proto": "tcp", "status": "closed"} ] },
{finished: 1}
"""

ZMAP_CSV = """\
saddr,sport,classification,success,repeat
10.20.0.5,443,synack,1,0
10.20.0.6,443,rst,0,0
10.20.0.9,443,synack,1,0
10.20.0.5,443,synack,1,1
"""

# zmap 2 (module_csv.c then): ", " between the fields.
ZMAP_CSV_OLD = """\
saddr, sport
10.20.0.9, 5061
10.20.0.5, 5061
"""

LAN = {"10.20.0.5": (443, 5061), "10.20.0.9": (5061,), "2001:db8::15": (7001,)}


def at(address: str, ports: tuple[int, ...], name: str | None = None) -> Found:
    parsed = ipaddress.ip_address(address)
    return Found(parsed.version, int(parsed), ports, name)


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def found(reader, text: str, source: str = "scan.out") -> list[Found]:
    return list(reader(lines(text), source))


def by_address(records: list[Found]) -> dict[str, tuple[int, ...]]:
    """Every address's open ports, in the order found (an address may be in several records)."""
    result: dict[str, tuple[int, ...]] = {}
    for record in records:
        result[str(record.address)] = result.get(str(record.address), ()) + record.ports
    return result


def specs_of(text: str, source: str = "scan.out", **options) -> list[tuple[str, tuple[int, ...], str | None]]:
    fmt, all_lines = sniff(lines(text), source)
    specs = read_targets(fmt, all_lines, source, DiscoveryOptions(**options))
    return [(s.text, s.ports, s.sni) for s in specs]


def expect_error(reader, text: str, match: str) -> None:
    with pytest.raises(TargetError, match=match):
        found(reader, text)


# --- sniffing: the content says what a file is --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (NMAP_XML, InputFormat.NMAP_XML),
        (MASSCAN_XML, InputFormat.NMAP_XML),
        (NMAP_GREPABLE, InputFormat.GREPABLE),
        (MASSCAN_GREPABLE, InputFormat.GREPABLE),
        ("Host: 10.0.0.1 ()\tPorts: 443/open/tcp//https///\n", InputFormat.GREPABLE),  # grep'd
        (MASSCAN_LIST, InputFormat.MASSCAN_LIST),
        ("open tcp 443 10.0.0.1 1772532722\n", InputFormat.MASSCAN_LIST),  # grep open scan.txt
        (MASSCAN_JSON, InputFormat.MASSCAN_JSON),
        (MASSCAN_JSON_OLD, InputFormat.MASSCAN_JSON),
        (ZMAP_CSV, InputFormat.ZMAP_CSV),
        (ZMAP_CSV_OLD, InputFormat.ZMAP_CSV),
        ("# estate\n\ntarget,ports,role\n10.0.0.1,5061,cucm\n", InputFormat.TARGET_CSV),
        ("Target,Ports\n", InputFormat.TARGET_CSV),
        ("# only a comment\n", InputFormat.TARGET_CSV),
        ("", InputFormat.TARGET_CSV),
    ],
    ids=lambda v: v.name if isinstance(v, InputFormat) else None,
)
def test_sniff_tells_formats_apart_by_content(text, fmt):
    found_fmt, again = sniff(lines(text), "f")
    assert found_fmt is fmt
    assert "".join(again) == text  # the lines read to decide are not lost


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("hello world\n", r"^f: line 1: not a file ekuscan reads: expected a target CSV .*masscan"),
        ("# notes\nhost,ports\n", r"^f: line 2: not a file ekuscan reads"),
        ("10.0.0.1\n10.0.0.2\n", r"^f: line 1: not a file ekuscan reads"),  # zmap without a header
        ("Starting Nmap 7.94SVN ( https://nmap.org ) at 2026-03-03 10:12 CET\n", r"normal output \(-oN\)"),
    ],
)
def test_sniff_names_what_it_expected(text, match):
    with pytest.raises(TargetError, match=match):
        sniff(lines(text), "f")


def test_nmap_normal_output_is_named_as_such():
    normal = (
        "# Nmap 7.94SVN scan initiated Tue Mar  3 10:12:01 2026 as: nmap -oN scan.nmap 10.20.0.1\n"
        "Nmap scan report for 10.20.0.1\n"
        "Host is up (0.00040s latency).\n"
    )
    fmt, all_lines = sniff(lines(normal), "scan.nmap")
    with pytest.raises(TargetError, match=r"^scan\.nmap: line 2: nmap's normal output \(-oN\) is not read"):
        list(read_found(fmt, all_lines, "scan.nmap"))


# --- nmap XML -----------------------------------------------------------------------------------


def test_nmap_xml_takes_open_tcp_ports_and_the_names():
    assert found(read_nmap_xml, NMAP_XML) == [
        # 22 closed, 7001 filtered, 5060/udp open|filtered: not taken. The user's name before the PTR.
        at("192.0.2.10", (443, 5061, 8443), "expe.example.com"),
        # The MAC address is not an address to scan; UDP 5060 is open but not TCP; the PTR name.
        at("10.20.0.1", (5061, 7001), "expc.corp.example"),
        # 10.20.0.2 (all filtered) and 10.20.0.3 (down) have no open port; the host hint is no host.
    ]


def test_nmap_xml_over_ipv6():
    assert found(read_nmap_xml, NMAP_XML_V6) == [at("2001:db8:20::10", (443, 5061), "expe6.example.com")]


def test_masscan_xml_is_read_like_nmaps():
    assert by_address(found(read_nmap_xml, MASSCAN_XML)) == {
        "10.20.0.5": (443, 443),  # the banner record repeats the port: one endpoint in the end
        "2001:db8::15": (7001,),  # addrtype="ipv4" on an IPv6 address: the address says what it is
    }
    assert specs_of(MASSCAN_XML) == [("10.20.0.5", (443,), None), ("2001:db8::15", (7001,), None)]


def test_nmap_xml_sni_from_input():
    assert specs_of(NMAP_XML, sni_from_input=True) == [
        ("10.20.0.1", (5061, 7001), "expc.corp.example"),
        ("192.0.2.10", (443, 5061, 8443), "expe.example.com"),
    ]
    # Without the flag no SNI goes to a bare address, as for any address target.
    assert specs_of(NMAP_XML) == [("10.20.0.1", (5061, 7001), None), ("192.0.2.10", (443, 5061, 8443), None)]


INTERRUPTED = NMAP_XML[: NMAP_XML.index('<host><status state="down"')]  # nmap was killed mid-scan


def xml_host(body: str) -> str:
    return f'<?xml version="1.0"?>\n<nmaprun scanner="nmap">\n<host>\n{body}\n</host>\n</nmaprun>\n'


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            xml_host(
                '<address addr="10.0.0.1"/>\n<ports>\n<port protocol="tcp"><state state="open"/></port>'
            ),
            r"^scan\.out: line 6: <port> without portid$",
            id="port-without-portid",
        ),
        pytest.param(
            xml_host('<address addr="10.0.0.1"/><ports><port protocol="tcp" portid="x443">'),
            r"^scan\.out: line 4: bad port 'x443'",
            id="bad-portid",
        ),
        pytest.param(
            xml_host('<address addr="10.0.0.1"/><ports><port protocol="tcp" portid="443"><state/></port>'),
            r"^scan\.out: line 4: <state> without state$",
            id="state-without-state",
        ),
        pytest.param(
            xml_host('<address addr="10.0.0.300"/>'),
            r"^scan\.out: line 4: '10\.0\.0\.300' is not an IP",
            id="bad-addr",
        ),
        pytest.param(xml_host("<address/>"), r"^scan\.out: line 4: <address> without addr$", id="no-addr"),
        pytest.param(
            xml_host("<status state='up'/>"),
            r"^scan\.out: line 5: <host> without an IP <address>$",
            id="no-address",
        ),
        pytest.param(
            '<?xml version="1.0"?>\n<html><body/></html>\n',
            r"^scan\.out: line 2: expected nmap XML output \(<nmaprun>\), not <html>$",
            id="not-nmap",
        ),
        pytest.param(
            '<?xml version="1.0"?>\n<nmaprun>\n<host></hots>\n</nmaprun>\n',
            r"^scan\.out: line 3: not well-formed XML \(mismatched tag\)$",
            id="mismatched",
        ),
        pytest.param(
            INTERRUPTED,
            rf"^scan\.out: line {INTERRUPTED.count(chr(10))}: the XML ends inside <nmaprun>: not a complete",
            id="interrupted",
        ),
        pytest.param(
            "<?xml version='1.0'?>\n",
            r"^scan\.out: line 2: not well-formed XML \(no element found\)$",
            id="empty",
        ),
    ],
)
def test_nmap_xml_errors_name_the_line_and_the_element(text, match):
    expect_error(read_nmap_xml, text, match)


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10)
    )
    + "]>\n<nmaprun>&lol9;</nmaprun>\n"
)


def test_nmap_xml_refuses_entity_declarations_before_expanding_any():
    started = time.perf_counter()
    expect_error(read_nmap_xml, BILLION_LAUGHS, r"^scan\.out: line 2: a document type with declarations")
    assert time.perf_counter() - started < 1


def test_nmap_xml_does_not_read_an_external_dtd(tmp_path):
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY addr "10.9.9.9">\n')
    text = (
        f'<?xml version="1.0"?>\n<!DOCTYPE nmaprun SYSTEM "{dtd}">\n<nmaprun><host><address addr="&addr;"/>'
        '<ports><port protocol="tcp" portid="443"><state state="open"/></port></ports></host></nmaprun>\n'
    )
    # Were the DTD read, &addr; would be 10.9.9.9; unread, the reference stays unresolved.
    expect_error(read_nmap_xml, text, r"^scan\.out: line 3: '' is not an IP address$")


def nmap_hosts_forever() -> Iterator[str]:
    yield '<?xml version="1.0"?>\n<nmaprun scanner="nmap">\n'
    for n in itertools.count():
        address = ipaddress.IPv4Address(0x0A000000 + n)
        state = "open" if n % 1000 == 0 else "closed"
        yield (
            f'<host><status state="up" reason="syn-ack"/>\n<address addr="{address}" addrtype="ipv4"/>\n'
            f'<hostnames>\n</hostnames>\n<ports><port protocol="tcp" portid="5061"><state state="{state}" '
            f'reason="syn-ack" reason_ttl="64"/><service name="sip-tls" method="table" conf="3"/></port>\n'
            "</ports>\n</host>\n"
        )


def test_nmap_xml_is_read_as_a_stream():
    """The hosts come out while the file is read: the reader never needs the end of the file."""
    first = list(itertools.islice(read_nmap_xml(nmap_hosts_forever(), "endless.xml"), 3))
    assert [str(f.address) for f in first] == ["10.0.0.0", "10.0.3.232", "10.0.7.208"]


def test_nmap_xml_memory_does_not_grow_with_the_file():
    tracemalloc.start()
    try:
        records = list(itertools.islice(read_nmap_xml(nmap_hosts_forever(), "big.xml"), 8))  # 8,000 hosts
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(records) == 8
    assert peak < 512 * 1024, peak  # the file so far is 2 MB


# --- greppable ----------------------------------------------------------------------------------


def test_nmap_grepable_takes_open_tcp_ports_and_the_reverse_dns_name():
    assert found(read_grepable, NMAP_GREPABLE) == [
        # "Cisco Expressway httpd, TLS only" has the entries' separator in it: still one entry.
        at("10.20.0.1", (22, 443, 5061), "expc.corp.example"),
        at("10.20.0.2", (7001,)),  # 5061/udp open|filtered is not taken
    ]
    assert specs_of(NMAP_GREPABLE, sni_from_input=True) == [
        ("10.20.0.1", (22, 443, 5061), "expc.corp.example"),
        ("10.20.0.2", (7001,), None),
    ]


def test_masscan_grepable_skips_banners():
    assert specs_of(MASSCAN_GREPABLE) == [("10.20.0.5", (443, 5061), None)]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "Host: 10.0.0.1 ()\tPorts: 443/open/tcp//https///\nPorts: 22/open/tcp\n",
            r"^scan\.out: line 2: expected a greppable 'Host: ADDRESS",
        ),
        (
            "Host: 10.0.0.1\tPorts: 443/open/tcp//https///\n",
            r"^scan\.out: line 1: bad field 'Host: 10\.0\.0\.1'",
        ),
        (
            "Host: 10.0.0.x ()\tPorts: 443/open/tcp//https///\n",
            r"^scan\.out: line 1: '10\.0\.0\.x' is not an IP",
        ),
        (
            "Host: 10.0.0.1 ()\tPorts: https/open/tcp///\n",
            r"^scan\.out: line 1: bad port entry 'https/open/tcp///'",
        ),
        ("Host: 10.0.0.1 ()\tPorts: 70000/open/tcp//https///\n", r"^scan\.out: line 1: bad port '70000'"),
    ],
)
def test_grepable_errors_name_the_line(text, match):
    expect_error(read_grepable, text, match)


# --- masscan list -------------------------------------------------------------------------------


def test_masscan_list_takes_open_tcp_and_skips_banners():
    assert by_address(found(read_masscan_list, MASSCAN_LIST)) == {
        "10.20.0.5": (443, 5061, 443),
        "10.20.0.9": (5061,),
        "2001:db8::15": (7001,),
    }
    # One spec per address, ports in order, addresses in order (masscan writes them as they answer).
    assert specs_of(MASSCAN_LIST) == [(a, p, None) for a, p in LAN.items()]


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (
            "open tcp 443 10.20.0.5",
            r"^scan\.out: line 3: expected a masscan list line 'STATUS PROTOCOL PORT ADDRESS TIMESTAMP'$",
        ),
        ("open tcp 443 10.20.0.5 yesterday", r"^scan\.out: line 3: expected a masscan list line"),
        ("open tcp 0 10.20.0.5 1772532722", r"^scan\.out: line 3: bad port '0'"),
        ("open tcp 443 10.20.0 1772532722", r"^scan\.out: line 3: '10\.20\.0' is not an IP address$"),
        (
            "Host: 10.20.0.5 ()\tPorts: 443/open/tcp//https///",
            r"^scan\.out: line 3: expected a masscan list line",
        ),
    ],
)
def test_masscan_list_errors_name_the_line(line, match):
    expect_error(read_masscan_list, f"#masscan\nopen tcp 443 10.20.0.1 1772532722\n{line}\n# end\n", match)


addresses = st.one_of(
    st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
    st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address),
)
masscan_records = st.tuples(
    st.sampled_from(["open", "closed", "banner"]),
    st.sampled_from(["tcp", "udp", "sctp"]),
    st.integers(1, 65535),
    addresses,
    st.integers(0, 2**32 - 1),
)


def masscan_line(record: tuple[str, str, int, ipaddress.IPv4Address | ipaddress.IPv6Address, int]) -> str:
    status, protocol, port, address, stamp = record
    if status == "banner":
        return (
            f"banner {protocol} {port} {address} {stamp} ssl TLS/1.2 cipher:0xc02f, open tcp 443 1.2.3.4 0\n"
        )
    return f"{status} {protocol} {port} {address} {stamp}\n"


@given(st.lists(masscan_records, max_size=40), st.none() | st.frozensets(st.integers(1, 65535), max_size=5))
@settings(max_examples=150, deadline=None)
def test_masscan_list_yields_exactly_the_open_tcp_records(records, port_filter):
    text = "#masscan\n" + "".join(masscan_line(r) for r in records) + "# end\n"
    expected: dict[tuple[int, int], set[int]] = {}
    for status, protocol, port, address, _ in records:
        if status == "open" and protocol == "tcp" and (port_filter is None or port in port_filter):
            expected.setdefault((address.version, int(address)), set()).add(port)
    specs = read_targets(InputFormat.MASSCAN_LIST, lines(text), "m.txt", DiscoveryOptions(port_filter))
    assert [(s.version, s.first) for s in specs] == sorted(expected)
    assert {(s.version, s.first): set(s.ports) for s in specs} == expected
    assert all(s.ports == tuple(sorted(s.ports)) and s.sni is None and s.role is None for s in specs)


def masscan_banners_forever() -> Iterator[str]:
    yield "#masscan\n"
    for n in itertools.count():
        address = ipaddress.IPv4Address(0x0A000000 + n)
        if n % 1000 == 0:
            yield f"open tcp 443 {address} 1772532722\n"
        yield f"closed tcp 5061 {address} 1772532722\n"
        yield f"banner tcp 443 {address} 1772532722 ssl TLS/1.2 cipher:0xc02f, host{n}.example.com\n"


def test_masscan_list_memory_does_not_grow_with_the_file():
    tracemalloc.start()
    try:
        records = list(itertools.islice(read_masscan_list(masscan_banners_forever(), "big.txt"), 10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(records) == 10  # 18,000 lines read, 1.3 MB
    assert peak < 64 * 1024, peak


# --- masscan JSON -------------------------------------------------------------------------------


def test_masscan_json_takes_open_tcp_and_skips_banner_records():
    assert specs_of(MASSCAN_JSON) == [
        ("10.20.0.5", (443,), None),
        ("10.20.0.9", (5061,), None),
        ("2001:db8::15", (7001,), None),
    ]


def test_masscan_json_of_masscan_1_0():
    assert specs_of(MASSCAN_JSON_OLD) == [("10.20.0.5", (443,), None), ("10.20.0.9", (5061,), None)]


def test_masscan_json_cut_short_by_an_interrupted_scan_is_read():
    cut = MASSCAN_JSON[: MASSCAN_JSON.rindex("]")]
    assert specs_of(cut) == specs_of(MASSCAN_JSON)


def test_masscan_json_reformatted_is_read():
    records = json.loads(MASSCAN_JSON)
    assert specs_of(json.dumps(records, indent=2)) == specs_of(MASSCAN_JSON)  # jq .
    assert specs_of(json.dumps(records) + "\n") == specs_of(MASSCAN_JSON)  # jq -c ., on one line


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            MASSCAN_JSON.replace(
                '"ttl": 52} ] }\n,\n{   "ip": "10.20.0.7"', '"ttl": 52} ] ]\n,\n{   "ip": "10.20.0.7"'
            ),
            r"^scan\.out: line 6: bad JSON: Expecting ',' delimiter$",
            id="broken-record",
        ),
        pytest.param(
            '[\n{"ip": "10.20.0.5", "ports": [{"port": 443, "proto": "tcp", "status": "open"}\n',
            r"^scan\.out: line 2: the file ends inside a JSON record$",
            id="cut-inside-a-record",
        ),
        pytest.param(
            '[\n{"ip": "10.20.0.5", "ports": 443}\n]\n',
            r'^scan\.out: line 2: expected a masscan record \{"ip"',
            id="ports-not-a-list",
        ),
        pytest.param(
            '[\n{"ip": "10.20.0.5", "ports": [{"proto": "tcp"}]}\n]\n',
            r'^scan\.out: line 2: expected "ports": \[\{"port"',
            id="port-missing",
        ),
        pytest.param(
            '[\n{"ip": "10.20.0.5", "ports": [{"port": 99999, "proto": "tcp", "status": "open"}]}\n]\n',
            r"^scan\.out: line 2: bad port '99999'",
            id="bad-port",
        ),
        pytest.param(
            '[\n"10.20.0.5"\n]\n', r"^scan\.out: line 2: expected a masscan record", id="not-an-object"
        ),
        pytest.param(
            '[\n{"ip": "10.20.0.5",\n "ports": [{"port": 443, "proto": "tcp"}], "x": t}\n]\n',
            r"^scan\.out: line 3: bad JSON: Expecting value$",
            id="error-on-a-later-line",
        ),
        pytest.param(
            '[\n{"ip": "10.20.0.5\n"}\n]\n',
            r"^scan\.out: line 2: bad JSON: Invalid control character",
            id="string-across-lines",
        ),
    ],
)
def test_masscan_json_errors_name_the_line(text, match):
    expect_error(read_masscan_json, text, match)


# --- zmap CSV -----------------------------------------------------------------------------------


def test_zmap_csv_takes_the_synacks():
    assert specs_of(ZMAP_CSV) == [("10.20.0.5", (443,), None), ("10.20.0.9", (443,), None)]  # not the RST
    assert specs_of(ZMAP_CSV_OLD) == [("10.20.0.5", (5061,), None), ("10.20.0.9", (5061,), None)]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "saddr\n10.20.0.5\n",
            r"^scan\.out: line 1: zmap output without a saddr and a sport column: write it with -f saddr,",
        ),
        ("saddr,sport\n10.20.0.5,443\n10.20.0.6\n", r"^scan\.out: line 3: 1 fields, the header has 2$"),
        ("saddr,sport\n10.20.0.5,https\n", r"^scan\.out: line 2: bad port 'https'"),
        ("saddr,sport\n\n10.20.0.500,443\n", r"^scan\.out: line 3: '10\.20\.0\.500' is not an IP address$"),
    ],
)
def test_zmap_csv_errors_name_the_line(text, match):
    expect_error(read_zmap_csv, text, match)


# --- what the command line adds -----------------------------------------------------------------


def test_ports_filter_the_open_ports_and_drop_hosts_left_with_none():
    assert specs_of(MASSCAN_LIST, port_filter=frozenset({5061, 8443})) == [
        ("10.20.0.5", (5061,), None),
        ("10.20.0.9", (5061,), None),
    ]  # 2001:db8::15 had only 7001


def test_role_and_sni_apply_to_every_discovered_address():
    fmt, all_lines = sniff(lines(MASSCAN_LIST), "m")
    specs = read_targets(
        fmt, all_lines, "m", DiscoveryOptions(role=Role.EXPRESSWAY_E, sni="Expe.Example.com.")
    )
    assert {(s.role, s.sni) for s in specs} == {(Role.EXPRESSWAY_E, "expe.example.com")}


def test_a_name_from_the_file_comes_before_sni_and_only_dns_names_count():
    records = [
        at("10.0.0.1", (443,), "expe.example.com"),
        at("10.0.0.2", (443,), "10.0.0.2"),  # an address is never SNI
        at("10.0.0.3", (443,), "2001:db8::3"),
        at("10.0.0.4", (443,), "bad name!"),  # not a host name: ignored
        at("10.0.0.5", (443,)),
    ]
    options = DiscoveryOptions(sni="fallback.example.com", sni_from_input=True)
    assert [(s.text, s.sni) for s in discovered_specs(records, options)] == [
        ("10.0.0.1", "expe.example.com"),
        ("10.0.0.2", "fallback.example.com"),
        ("10.0.0.3", "fallback.example.com"),
        ("10.0.0.4", "fallback.example.com"),
        ("10.0.0.5", "fallback.example.com"),
    ]


def test_one_address_under_two_names_is_two_hosts():
    """nmap given two names of one address reports it twice; each name is its own SNI endpoint."""
    records = [
        at("10.0.0.1", (443, 5061), "expe-a.example.com"),
        at("10.0.0.1", (443,), "expe-b.example.com"),
    ]
    specs = discovered_specs(records, DiscoveryOptions(sni_from_input=True))
    assert [(e.host, e.port, e.sni) for e in expand(specs)] == [
        ("10.0.0.1", 443, "expe-a.example.com"),
        ("10.0.0.1", 5061, "expe-a.example.com"),
        ("10.0.0.1", 443, "expe-b.example.com"),
    ]
    merged = discovered_specs(records, DiscoveryOptions())
    assert [(s.text, s.ports, s.sni) for s in merged] == [("10.0.0.1", (443, 5061), None)]


@pytest.mark.parametrize(
    ("fmt", "allowed"),
    [(f, f in (InputFormat.NMAP_XML, InputFormat.GREPABLE)) for f in InputFormat],
    ids=lambda v: v.name if isinstance(v, InputFormat) else None,
)
def test_sni_from_input_only_where_the_file_names_hosts(fmt, allowed):
    options = DiscoveryOptions(sni_from_input=True)
    if allowed:
        check_options(fmt, "f", options)
    else:
        with pytest.raises(TargetError, match=r"^--sni-from-input: f is "):
            check_options(fmt, "f", options)
    check_options(fmt, "f", DiscoveryOptions())


def read_or_fail(reader, text_lines: list[str]) -> list[Found] | str:
    try:
        return list(reader(text_lines, "fuzz"))
    except TargetError as exc:
        return str(exc)


@pytest.mark.parametrize(
    "reader", [read_nmap_xml, read_grepable, read_masscan_list, read_masscan_json, read_zmap_csv]
)
@given(st.lists(st.text(max_size=60).map(lambda s: s + "\n"), max_size=12))
@settings(max_examples=120, deadline=None)
def test_readers_fail_only_with_a_target_error(reader, text_lines):
    outcome = read_or_fail(reader, text_lines)
    if isinstance(outcome, str):
        assert outcome.startswith("fuzz: line ")
    else:
        assert all(r.ports and all(0 < p < 65536 for p in r.ports) for r in outcome)


@given(
    st.one_of(
        st.lists(
            st.integers(0, 300).map(str) | st.sampled_from(["00", "01", "٣", "+1", " 1", ""]),
            min_size=3,
            max_size=5,
        ).map(".".join),
        addresses.map(str),
        st.text(max_size=20),
    )
)
@settings(max_examples=400)
def test_address_of_agrees_with_ipaddress(text):
    try:
        expected: tuple[int, int] | None = (
            ipaddress.ip_address(text.strip()).version,
            int(ipaddress.ip_address(text.strip())),
        )
    except ValueError:
        expected = None
    try:
        assert address_of(text, "f", 1) == expected
    except TargetError:
        assert expected is None


@given(
    st.lists(st.tuples(addresses, st.lists(st.integers(1, 65535), min_size=1, max_size=4)), max_size=8),
    st.sampled_from([None, Role.CUCM]),
    st.sampled_from([None, "Expe.Example.COM."]),
)
@settings(max_examples=100)
def test_discovered_specs_are_the_specs_parse_target_makes(hosts, role, sni):
    records = [Found(a.version, int(a), tuple(p)) for a, p in hosts]
    for spec in discovered_specs(records, DiscoveryOptions(role=role, sni=sni)):
        assert spec == parse_target(spec.text, spec.ports, role, sni)


# --- through the application: the -i file, its errors ------------------------------------------


def test_target_specs_reads_discovery_files_and_target_csvs(tmp_path):
    xml = tmp_path / "scan.xml"
    xml.write_text(NMAP_XML, encoding="utf-8")
    options = DiscoveryOptions(frozenset({5061}), Role.EXPRESSWAY, None, True)
    specs = target_specs(["10.9.0.1"], xml, (5061,), Role.EXPRESSWAY, None, options)
    assert [(s.text, s.ports, s.sni, s.role) for s in specs] == [
        ("10.9.0.1", (5061,), None, Role.EXPRESSWAY),
        ("10.20.0.1", (5061,), "expc.corp.example", Role.EXPRESSWAY),
        ("192.0.2.10", (5061,), "expe.example.com", Role.EXPRESSWAY),
    ]
    csv_file = tmp_path / "targets.csv"
    csv_file.write_text("\ufeff# estate\ntarget,ports,role\n10.9.0.2,7001,cucm\n", encoding="utf-8")
    assert target_specs([], csv_file, (5061,), None, None) == parse_csv(
        ["target,ports,role", "10.9.0.2,7001,cucm"], "x"
    )
    with pytest.raises(TargetError, match=r"--sni-from-input: .*targets\.csv is a target CSV"):
        target_specs([], csv_file, (5061,), None, None, DiscoveryOptions(sni_from_input=True))


# --- scans of what discovery found: real handshakes with the test lab -------------------------


def ekuscan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=120, check=False
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines_out = result.stderr.strip().splitlines()
    assert len(lines_out) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines_out[0]


def lab_nmap_xml(lab) -> str:
    """nmap's -oX of a part of the lab: two hosts with open, closed and filtered ports, one silent."""
    expe, expc, silent = (
        lab.find(h, p) for h, p in [("expe-public", 5061), ("expc-private", 5061), ("silent", 7001)]
    )
    expe_ports = sorted(s.port for s in lab.services if s.host.name == "expe-public")
    expc_https = lab.find("expc-private", 443).port

    def port(number: int, state: str) -> str:
        return (
            f'<port protocol="tcp" portid="{number}"><state state="{state}" reason="syn-ack" '
            f'reason_ttl="64"/><service name="unknown" method="table" conf="3"/></port>\n'
        )

    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
        '<nmaprun scanner="nmap" args="nmap -oX lab.xml" start="1772532721" version="7.94SVN" '
        'xmloutputversion="1.05">\n<verbose level="0"/>\n<debugging level="0"/>\n'
        f'<host><status state="up" reason="syn-ack"/>\n<address addr="{expe.address}" addrtype="ipv4"/>\n'
        f'<hostnames>\n<hostname name="{expe.sni}" type="user"/>\n'
        '<hostname name="ptr.example.net" type="PTR"/>\n'
        "</hostnames>\n<ports>\n"
        + port(22, "closed")
        + "".join(port(p, "open") for p in expe_ports)
        + port(5062, "filtered")
        + "</ports>\n</host>\n"
        f'<host><status state="up" reason="syn-ack"/>\n<address addr="{expc.address}" addrtype="ipv4"/>\n'
        f'<hostnames>\n<hostname name="{expc.sni}" type="PTR"/>\n</hostnames>\n<ports>\n'
        + port(expc.port, "open")
        + port(expc_https, "filtered")
        + "</ports>\n</host>\n"
        f'<host><status state="up" reason="syn-ack"/>\n<address addr="{silent.address}" addrtype="ipv4"/>\n'
        f"<ports>\n{port(silent.port, 'filtered')}</ports>\n</host>\n"
        '<runstats><finished time="1772532725" elapsed="4.10" exit="success"/>'
        '<hosts up="3" down="0" total="3"/></runstats>\n</nmaprun>\n'
    )


def scanned(result: subprocess.CompletedProcess[str]) -> set[tuple[str, int, str | None, str]]:
    assert result.returncode in (0, 1), result.stderr
    return {(e["ip"], e["port"], e["sni"], e["status"]) for e in json.loads(result.stdout)["endpoints"]}


def test_scan_of_nmap_xml_probes_the_open_ports_with_the_names_as_sni(lab, tmp_path):
    xml = tmp_path / "lab.xml"
    xml.write_text(lab_nmap_xml(lab))
    root = tmp_path / "root.pem"
    root.write_bytes(lab.pki.public_root.pem)
    expe = [s for s in lab.services if s.host.name == "expe-public"]
    expc = lab.find("expc-private", 5061)
    common = ("scan", "-i", str(xml), "--public-roots", str(root), "-f", "json", "--timeout", "2")
    with_names = scanned(ekuscan(*common, "--sni-from-input"))
    assert with_names == {(s.address, s.port, s.sni, "ok") for s in [*expe, expc]}  # never 22, 5062, 443
    only_sip = scanned(ekuscan(*common, "-p", "5061"))
    assert only_sip == {(s.address, 5061, None, "ok") for s in [expe[0], expc]}  # no SNI without the flag


def test_scan_of_masscan_list_skips_banners_udp_and_closed(lab, tmp_path):
    expe = {s.service.port: s for s in lab.services if s.host.name == "expe-public"}
    cucm = lab.find("cucm", 5061)
    listing = tmp_path / "masscan.txt"
    listing.write_text(
        "#masscan\n"
        f"open tcp {expe[7001].port} {expe[7001].address} 1772532722\n"
        f"banner tcp {expe[7001].port} {expe[7001].address} 1772532722 ssl TLS/1.2 cipher:0xc02f\n"
        f"open tcp {cucm.port} {cucm.address} 1772532723\n"
        f"open udp 5060 {cucm.address} 1772532723\n"
        f"closed tcp 22 {cucm.address} 1772532723\n"
        f"open tcp {expe[5061].port} {expe[5061].address} 1772532724\n"
        f"open tcp {expe[8443].port} {expe[8443].address} 1772532724\n"
        "# end\n"
    )
    result = ekuscan("scan", "-i", str(listing), "-p", "5061,7001", "-f", "json", "--timeout", "2")
    assert scanned(result) == {
        (expe[5061].address, expe[5061].port, None, "ok"),
        (expe[7001].address, expe[7001].port, None, "ok"),
        (cucm.address, cucm.port, None, "ok"),
    }


def test_scan_with_a_bad_discovery_file_exits_2_naming_the_line(tmp_path):
    bad = tmp_path / "scan.xml"
    bad.write_text(
        xml_host('<address addr="127.0.0.1"/>\n<ports><port protocol="tcp"><state state="open"/></port>')
    )
    assert one_line_error(ekuscan("scan", "-i", str(bad))) == (
        f"ekuscan: error: {bad}: line 5: <port> without portid"
    )
    listing = tmp_path / "masscan.txt"
    listing.write_text(MASSCAN_LIST)
    assert "which names no hosts" in one_line_error(ekuscan("scan", "-i", str(listing), "--sni-from-input"))
    assert "--sni-from-input needs -i FILE" in one_line_error(
        ekuscan("scan", "127.0.0.1", "--sni-from-input")
    )
