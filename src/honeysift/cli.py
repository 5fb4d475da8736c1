"""Command-line interface: thin commands that wire the pipeline stages together.

Exit status: 0 success; 1 the capture is damaged (everything readable was still analysed and
printed, the damage is reported on stderr with byte offsets); 2 usage or fatal error (bad
arguments, unreadable file, bad filter); 3 an internal error (a bug), reported in one line
(HONEYSIFT_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any

import click

from honeysift import __version__
from honeysift.errors import HoneysiftError
from honeysift.memory import freeze, space_collections
from honeysift.progress import Progress
from honeysift.safe_text import safe

if TYPE_CHECKING:
    from honeysift.capture.reader import Capture

EXIT_DAMAGED = 1
EXIT_ERROR = 2
EXIT_INTERNAL = 3


def _err(msg: str) -> None:
    click.echo(f"honeysift: {safe(msg, keep_newlines=True)}", err=True)


def guarded(fn: Callable) -> Callable:
    """Turn the tool's own errors into one clear line and exit status 2 (never a traceback)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        freeze()  # the imports so far are here for good: keep them out of the collector's way
        space_collections()
        try:
            return fn(*args, **kwargs)
        except HoneysiftError as exc:
            _err(f"error: {exc}")
            sys.exit(EXIT_ERROR)
        except BrokenPipeError:  # `honeysift ... | head`
            sys.stderr.close()
            sys.exit(0)
        except KeyboardInterrupt:
            _err("interrupted")
            sys.exit(130)
        except OSError as exc:  # the file system said no (disk full, permissions, a symlink)
            _err(f"error: {exc}")
            sys.exit(EXIT_ERROR)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors: click prints them
        except Exception as exc:  # a bug of ours: say so in one line, keep the traceback opt-in
            if os.environ.get("HONEYSIFT_DEBUG"):
                raise
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = (
                f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
                if tb
                else ""
            )
            _err(
                f"internal error: {type(exc).__name__}: {exc}{where} (a bug: please report it; HONEYSIFT_DEBUG=1 shows the traceback)"
            )
            sys.exit(EXIT_INTERNAL)

    return wrapper


def report_warnings(cap) -> int:
    """Print capture damage to stderr; return the exit status it implies."""
    for w in cap.warnings:
        _err(f"warning: {cap.name}: {w}")
    return EXIT_DAMAGED if cap.damaged else 0


def _filter(words: tuple[str, ...]):
    """Compile trailing FILTER words (tcpdump syntax) or return None."""
    if not words:
        return None
    from honeysift.filters.bpf import compile_filter

    return compile_filter(" ".join(words))


@contextmanager
def _open_and_report(
    path: str, progress: Progress | None = None, block_size: int | None = None
) -> Iterator[Capture]:
    """The capture a command reads. After the command's output it prints the capture's damage
    and exits with the status that implies, so every command ends the same way."""
    from honeysift.capture.reader import Capture

    sized = {} if block_size is None else {"block_size": block_size}
    with Capture(path, progress=progress, **sized) as cap:
        yield cap
        status = report_warnings(cap)
    sys.exit(status)


def _echo_result(result: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    """Print a command's one result object: with --json its to_dict() as indented JSON, else
    the command's text view; info and irc print theirs this one way."""
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else render(result))


#: CAPTURE, every command's first argument: the file to read, or - for standard input.
capture_argument = click.argument("capture", metavar="CAPTURE")
#: The trailing FILTER words (tcpdump syntax) of the commands that select packets.
filter_arguments = click.argument("filter_words", nargs=-1, metavar="[FILTER]...")


def json_option(help_text: str) -> Callable[[Callable], Callable]:
    """--json, passed as ``as_json``: every command spells its machine-readable switch the
    same way; only the help, which says what the JSON holds, is the command's own."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def honeypot_option(help_text: str) -> Callable[[Callable], Callable]:
    """--honeypot IP|CIDR (repeatable), passed as ``honeypots``: a list, or None when not given,
    which analyze and alerts both read as "infer the honeypot"."""
    return click.option(
        "--honeypot",
        "honeypots",
        multiple=True,
        metavar="IP|CIDR",
        callback=lambda _ctx, _param, given: list(given) or None,
        help=help_text,
    )


def link_kbps_option(help_text: str) -> Callable[[Callable], Callable]:
    """--link-kbps: the per-bot link speed behind the botnet bandwidth estimates, with one
    default (56k) for irc and analyze, whose estimates both come from irc_report."""
    return click.option("--link-kbps", type=float, default=56.0, show_default=True, help=help_text)


def format_options(
    choices: list[str], format_help: str | None, json_help: str
) -> Callable[[Callable], Callable]:
    """--format (default table) and --json, its shorthand for --format json: the command is
    called with ``fmt`` alone, already "json" when --json was given, so that rule is written
    once for the commands that have both."""

    def decorate(fn: Callable) -> Callable:
        @wraps(fn)
        def with_fmt(*args: Any, fmt: str, as_json: bool, **kwargs: Any) -> Any:
            return fn(*args, fmt="json" if as_json else fmt, **kwargs)

        with_fmt = json_option(json_help)(with_fmt)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default="table",
            show_default=True,
            help=format_help,
        )(with_fmt)

    return decorate


#: `flows` reads in 32 MiB blocks instead of the reader's 16: half the chunks, half their fixed
#: costs (decode glue, row extraction, thread hand-offs); measured on the 1 GB benchmark
#: capture 4.62 -> 4.37 s (same flows) for ~125 MB more peak memory. 64 MiB gained nothing.
FLOWS_BLOCK = 32 << 20


def run() -> None:
    """The program's entry point (console script and ``python -m honeysift``): :func:`main`,
    then exit without tearing the interpreter down. Module teardown with numba, llvmlite and
    pyarrow loaded takes 0.1-0.25 s and has nothing left to do: output is flushed and the
    atexit handlers run first."""
    import atexit
    import contextlib

    try:
        main()
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(ValueError, OSError):  # `| head`, or closed by the command
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="honeysift")
def main() -> None:
    """Turn a packet capture from a honeypot (or any incident) into answers.

    CAPTURE is a pcap or pcapng file, optionally gzip/bzip2/xz compressed (detected by
    content), or - for standard input. Every command has --help with an example.

    \b
    Examples:
      honeysift info sotm27.gz
      honeysift info --json capture.pcapng | jq .packets
    """


@main.command()
@capture_argument
@json_option("Print one JSON object (keys in docs/cli.md).")
@guarded
def info(capture: str, as_json: bool) -> None:
    """What file, capinfos and md5sum told the 2003 analyst, in one look.

    Format and version, byte order, timestamp resolution, link types, snap length, packet and
    byte counts, first/last packet time (UTC), duration, average rates, MD5 and SHA-256 of the
    file as stored (and of the decompressed capture when it was compressed), truncated and
    undecodable frames.

    \b
    Examples:
      honeysift info examples/sotm27-mini.pcap
      honeysift info --json sotm27.gz | jq '{packets, first_ts, md5}'
      zcat big.pcap.gz | honeysift info -
    """
    from honeysift.capture.summary import summarize
    from honeysift.report.info_text import render_info

    progress = Progress("reading", enabled=True)
    with _open_and_report(capture, progress) as cap:
        summary = summarize(cap)
        progress.done()
        _echo_result(summary, as_json, render_info)


@main.command(context_settings={"ignore_unknown_options": False})
@capture_argument
@filter_arguments
@click.option(
    "--group",
    is_flag=True,
    help="Cluster identical payloads and print counts (like sort | uniq -c).",
)
@click.option(
    "--ignore",
    "ignore",
    multiple=True,
    metavar="FIELD",
    help="Mask FIELD before grouping (repeatable): nbns.txid, dns.id, smb.mid, smb.pid; with "
    "--headers also ip.id, ip.ttl, ip.checksum, tcp.seq, tcp.ack, tcp.window, tcp.checksum, "
    "tcp.srcport, udp.srcport, udp.checksum.",
)
@click.option(
    "--headers",
    is_flag=True,
    help="Include the IP and transport headers in the dump and the grouping key.",
)
@click.option("--empty", is_flag=True, help="Also list packets without payload.")
@click.option("--limit", type=int, default=None, help="Stop after N packets.")
@click.option("--max-bytes", type=int, default=None, help="Dump at most N bytes of each payload.")
@json_option("One JSON object per packet (or per group) per line.")
@guarded
def payloads(
    capture, filter_words, group, ignore, headers, empty, limit, max_bytes, as_json
) -> None:
    """Per-packet payloads in hex and ASCII (snort -devp, the write-up's udpsniff.c).

    FILTER is a tcpdump expression given as trailing words. --group clusters identical
    payloads; --ignore masks a field first, so requests that differ only in a transaction id
    fall into one group.

    \b
    Examples:
      honeysift payloads sotm27.pcap udp and port 1434 --group
      honeysift payloads sotm27.pcap 'udp and dst port 137' --group --ignore nbns.txid
      honeysift payloads sotm27.pcap tcp port 80 --limit 20 --max-bytes 128
    """
    from honeysift.report import payloads_text as view
    from honeysift.streams.payloads import MASKABLE, group_payloads, iter_payloads

    unknown = [f for f in ignore if f not in MASKABLE]
    if unknown:
        raise click.UsageError(
            f"--ignore: unknown field {unknown[0]!r}; known: {', '.join(sorted(MASKABLE))}"
        )
    flt = _filter(filter_words)
    with _open_and_report(capture) as cap:
        recs = iter_payloads(
            cap, flt, ignore=ignore, headers=headers, include_empty=empty, limit=limit
        )
        if group:
            records = list(recs)
            groups = group_payloads(records)
            if as_json:
                for g in groups:
                    click.echo(json.dumps(view.group_json(g)))
            else:
                click.echo(
                    view.render_groups(
                        groups, len(records), max_bytes if max_bytes is not None else 256
                    )
                )
        else:
            for rec in recs:
                if as_json:
                    click.echo(json.dumps(view.record_json(rec)))
                else:
                    click.echo(view.render_record(rec, max_bytes))
                    click.echo("")


@main.command()
@capture_argument
@filter_arguments
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False),
    help="Write one file per stream direction here (tcpflow names) plus index.csv and index.json.",
)
@click.option(
    "--group",
    is_flag=True,
    help="Group directions by content hash and print count, MD5, size and one example (md5sum | sort | uniq -c).",
)
@json_option("Print the index as JSON lines instead of a table.")
@guarded
def streams(capture, filter_words, outdir, group, as_json) -> None:
    """Reassemble TCP connections into one byte stream per direction (tcpflow).

    Each direction that carried data is written to OUTDIR under tcpflow's name, e.g.
    172.016.134.191.01045-209.196.044.172.06667 (reused address/port pairs get c1, c2...),
    with an index (CSV and JSON) giving flow uid, bytes, gaps, overlaps (and whether their bytes
    conflicted), first/last frame, MD5 and SHA-256. FILTER (tcpdump syntax) selects packets.

    \b
    Examples:
      honeysift streams sotm27.pcap -o flows/
      honeysift streams sotm27.pcap tcp port 139 -o tcp139/ --group
      honeysift streams sotm27.pcap 'port 6667' --json | jq -r .file
    """
    from honeysift.report.streams_text import render_groups, render_index
    from honeysift.streams.export import export_capture, group_by_content

    flt = _filter(filter_words)
    if not outdir and not group and not as_json:
        raise click.UsageError("give -o DIR to write the streams, or --group / --json to list them")
    progress = Progress("reassembling", enabled=True)
    with _open_and_report(capture, progress) as cap:
        written = bool(outdir)
        index = export_capture(cap, outdir, flt, write_files=written, write_index=written)
        progress.done()
        if group:
            click.echo(render_groups(group_by_content(index)))
        elif as_json:
            for e in index:
                click.echo(json.dumps(e.to_dict()))
        else:
            click.echo(render_index(index, outdir))


@main.command()
@capture_argument
@json_option("Print one JSON object (keys in docs/irc.md).")
@link_kbps_option("Per-bot link speed for the bandwidth estimates.")
@guarded
def irc(capture, as_json, link_kbps) -> None:
    """IRC servers, sessions and the botnet census (the write-up's IRC questions).

    IRC is found by content on any TCP port (and by the usual ports 6660-6670, 7000...). For
    each session: client and server, outcome (refused, no answer, nickname in use, closed by
    the server with its ERROR text, registered, joined), nicks, channels and keys. For each
    server and channel: distinct hosts in JOIN and QUIT prefixes and their union, the server's
    LUSERS figures, NAMES sizes, membership over time, bandwidth at --link-kbps per bot, and bot
    commands seen in PRIVMSG, NOTICE and TOPIC. Each figure says how it was counted.

    \b
    Examples:
      honeysift irc examples/sotm27-mini.pcap
      honeysift irc sotm27.pcap --json | jq '.botnets[] | {channel, union_hosts}'
    """
    from honeysift.analysis.irc_capture import irc_report
    from honeysift.pipeline import Pipeline
    from honeysift.report.irc_text import render_irc

    with _open_and_report(capture) as cap:
        report = irc_report(Pipeline(cap), link_kbps)
        _echo_result(report, as_json, render_irc)


@main.command()
@capture_argument
@filter_arguments
@format_options(
    ["table", "csv", "json", "zeek", "parquet"],
    "table: aligned like `ra -A -c -n`; json: one object per line; zeek: conn.log TSV (zeek-cut reads it); parquet needs -o.",
    "Same as --format json.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write to this file instead of standard output.",
)
@click.option(
    "--tcp-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds of TCP inactivity that end a flow (Zeek's default).",
)
@click.option(
    "--udp-timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds of UDP inactivity that end a flow.",
)
@guarded
def flows(capture, filter_words, fmt, output, tcp_timeout, udp_timeout) -> None:
    """Bidirectional flow records (argus + ra, Zeek conn.log).

    One record per connection: start, duration, protocol, originator and responder, argus
    direction (-> <- <-> and ?> <? <?> when the originator was inferred without a SYN), packets,
    IP bytes and payload bytes each way, Zeek conn_state and history, argus status, service
    (by port and by payload), first/last frame. FILTER (tcpdump syntax) selects packets before
    flows are built, as `ra - tcp and dst port 445` did. csv, json, zeek and parquet are
    written as flows end (like Zeek's conn.log), so memory stays small on big captures; the
    table waits for every row.

    \b
    Examples:
      honeysift flows sotm27.pcap tcp and dst port 445
      honeysift flows sotm27.pcap --format zeek -o conn.log && zeek-cut id.orig_h conn_state < conn.log
      honeysift flows sotm27.pcap udp port 1434 --json | jq -r .orig_h | sort -u
    """
    from honeysift.flows import build_flows, iter_flows
    from honeysift.flows.render import write, write_stream

    if fmt == "parquet" and not output:
        raise click.UsageError("--format parquet needs -o FILE")
    flt = _filter(filter_words)
    progress = Progress("building flows", enabled=True)
    with _open_and_report(capture, progress, FLOWS_BLOCK) as cap:
        chunks = (cap.select(t, flt) for t in cap.chunks()) if flt is not None else cap
        opts = {"reader": cap.frame_bytes, "tcp_timeout": tcp_timeout, "udp_timeout": udp_timeout}
        out = open(output, "wb" if fmt == "parquet" else "w") if output else sys.stdout  # noqa: SIM115
        try:
            if fmt == "table":  # column widths need every row
                result = build_flows(chunks, **opts)
                progress.done()
                write(result, fmt, out)
            else:  # written as flows end: memory holds the live flows, not the whole table
                write_stream(iter_flows(chunks, **opts), fmt, out)
                progress.done()
        finally:
            if output:
                out.close()


@main.command(context_settings={"ignore_unknown_options": False})
@capture_argument
@filter_arguments
@click.option(
    "-Y",
    "--display-filter",
    "display_filter",
    metavar="EXPR",
    help="Wireshark display filter subset (tshark field names), e.g. 'udp.port == 137'.",
)
@click.option(
    "-V", "--verbose", "verbose", is_flag=True, help="Print the protocol tree of each frame."
)
@click.option(
    "-x", "--hex", "hexdump", is_flag=True, help="Add a hex and ASCII dump of each frame."
)
@click.option(
    "-T",
    "mode",
    type=click.Choice(["text", "fields", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-e",
    "fields",
    multiple=True,
    metavar="FIELD",
    help="Field to print with -T fields (repeatable), e.g. -e frame.number -e smb.path.",
)
@click.option("-c", "--limit", type=int, default=None, help="Stop after N displayed frames.")
@guarded
def show(capture, filter_words, display_filter, verbose, hexdump, mode, fields, limit) -> None:
    """Per-frame protocol views: the tethereal -V / -x / tshark -T fields of the write-up.

    One summary line per frame like tshark; -V a protocol tree with the NetBIOS, SMB, DCE/RPC,
    HTTP, IRC, DNS, FTP and SQL Server decoders (a message spread over several TCP segments is
    shown at the frame that completes it); -x hex and ASCII. FILTER (tcpdump syntax) selects
    frames; -Y filters on decoded fields (docs/protocols.md lists them). Uses one process per
    core (at most 4; set HONEYSIFT_WORKERS=1 for one).

    \b
    Examples:
      honeysift show sotm27.pcap -V -Y 'udp.port == 137' | grep 'Name:' | sort | uniq -c
      honeysift show sotm27.pcap -V tcp port 139 | grep 'Path:' | sort | uniq -c
      honeysift show sotm27.pcap tcp port 445 -T fields -e frame.number -e smb.file
    """
    from honeysift.dissect import show_command

    if mode == "fields" and not fields:
        raise click.UsageError("-T fields needs at least one -e FIELD")
    # show_command writes to stdout itself: click.echo's ANSI scan of each ~10 MB chunk cost
    # 0.13 s per 100k frames of -V, and packet text is escaped by safe() already. Progress
    # only when the output goes elsewhere than the terminal (there, the output is the progress)
    progress = Progress("reading", enabled=not sys.stdout.isatty())
    try:
        status = show_command(
            capture,
            filter_words,
            display_filter,
            verbose,
            hexdump,
            mode,
            fields,
            limit,
            progress=progress,
        )
    finally:
        progress.done()
    sys.exit(status)


@main.command()
@capture_argument
@honeypot_option(
    "The honeypot(s); repeatable. Default: inferred (the report says how and how sure)."
)
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False),
    help="Write report.json, report.md, report.html and the carved files (files/) here.",
)
@json_option("Print report.json to standard output instead of the summary.")
@link_kbps_option("Per-bot link speed for the botnet bandwidth estimates.")
@click.option(
    "--alerts",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    show_default=True,
    help="Run the built-in signature rules as findings (auto: on captures of at most 1,000,000 packets).",
)
@guarded
def analyze(capture, honeypots, outdir, as_json, link_kbps, alerts) -> None:
    """The whole analysis: who attacked the honeypot, how, what worked, and what went out.

    Finds the honeypot (or takes --honeypot), lists every remote host and targeted service,
    and decides per service whether the attacks succeeded, with reasons: Slammer on udp/1434,
    NetBIOS node-status on udp/137, SMB logons, SAMR enumeration and uploads on tcp/139 and
    tcp/445, IIS exploits and Code Red on tcp/80, backdoors such as radmin on tcp/4899 that
    answer after the compromise, the IRC botnet it joined (with the census), downloads and
    scans it started. Every finding names its frames and flows and the honeysift command that
    shows them. With -o DIR also report.md, report.html (one offline file) and the carved files.

    \b
    Examples:
      honeysift analyze examples/sotm27-mini.pcap
      honeysift analyze sotm27.gz --honeypot 172.16.134.191 -o report/
      honeysift analyze capture.pcap --json | jq '.services[] | {port, verdict}'
    """
    from honeysift.analysis.run import analyze as run_analysis

    progress = Progress("analysing", enabled=not as_json)
    with _open_and_report(capture, progress) as cap:
        report = run_analysis(
            cap,
            honeypots=honeypots,
            label=capture,
            link_kbps=link_kbps,
            alerts=alerts,
        )
        progress.done()
        data = report.to_dict()
        from honeysift.report.present import shared_sanitize

        with shared_sanitize():
            _analyze_output(data, report.files, outdir, as_json)
        for err in report.analysis_errors:
            _err(f"warning: analysis step failed: {err}")
        from honeysift.detect.alerts import PcreLimitHit

        for hit in report.sections.get("alerts", {}).get("pcre_limits", []):
            _err(f"warning: {PcreLimitHit(**hit)}")  # as `honeysift alerts` says it


def _analyze_output(data: dict, files: list, outdir: str | None, as_json: bool) -> None:
    """report.md/.html/.json and the carved files under OUTDIR, then the terminal summary
    (or the JSON report); the renderers share one sanitised copy of the report."""
    paths = {}
    if outdir:
        from honeysift.report.writer import write_report

        paths = write_report(data, files, outdir)
    if as_json:
        click.echo(json.dumps(data, indent=1, default=str))
        return
    try:
        from honeysift.report.terminal import render_summary

        click.echo(render_summary(data))
    except ImportError:
        click.echo(json.dumps(data["answers"], indent=1, default=str))
    if outdir:
        click.echo(
            "\nwritten: "
            + ", ".join(str(p) for p in paths.values())
            + f" and {len(files)} carved file(s) under {os.path.join(outdir, 'files')}"
        )


@main.command()
@capture_argument
@click.argument("sql", metavar="SQL")
@filter_arguments
@format_options(["table", "csv", "json"], None, "Same as --format json (one object per line).")
@guarded
def query(capture, sql, filter_words, fmt) -> None:
    """SQL over the capture's derived tables (DuckDB): `packets` and `flows`.

    packets: one row per frame with the packet-table columns (frame, ts, src, dst, proto,
    sport, dport, tcp_flags, payload_len, ...). flows: the flow table (orig_h, resp_p,
    conn_state, orig_bytes, service, ...). FILTER (tcpdump syntax) narrows both.

    \b
    Examples:
      honeysift query sotm27.pcap "select resp_p, count(distinct orig_h) n from flows group by 1 order by n desc"
      honeysift query sotm27.pcap "select src, count(*) from packets where dport = 1434 group by 1" udp
    """
    try:
        import duckdb  # noqa: F401
    except ImportError:
        raise click.UsageError(
            "honeysift query needs DuckDB: pip install 'honeysift[query]' (or pip install duckdb)"
        ) from None
    from honeysift.query import run_query
    from honeysift.safe_text import safe

    flt = _filter(filter_words)
    with _open_and_report(capture) as cap:
        try:
            result = run_query(cap, sql, flt)
        except Exception as exc:  # DuckDB's own errors (syntax, unknown column) are the user's
            if type(exc).__module__.startswith("duckdb") or "duckdb" in type(exc).__module__:
                raise click.UsageError(f"SQL: {exc}") from None
            raise
        rows = result.to_pylist()
        names = result.column_names
        if fmt == "json":
            for r in rows:
                click.echo(json.dumps(r, default=str))
        elif fmt == "csv":
            import csv

            w = csv.writer(sys.stdout)
            w.writerow(names)
            for r in rows:
                w.writerow([r[n] for n in names])
        else:
            text = [[safe(str(r[n])) for n in names] for r in rows]
            widths = [max([len(n)] + [len(t[i]) for t in text]) for i, n in enumerate(names)]
            click.echo("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)))
            for t in text:
                click.echo("  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)))


@main.command()
@capture_argument
@filter_arguments
@click.option(
    "--rules",
    "rules",
    multiple=True,
    type=click.Path(exists=True),
    metavar="FILE|DIR",
    help="Snort/Suricata rule file or directory of *.rules (repeatable).",
)
@click.option(
    "--no-builtin", is_flag=True, help="Do not load the built-in ruleset (docs/alerts.md)."
)
@honeypot_option("Honeypot address/network: becomes $HOME_NET (default: inferred).")
@click.option(
    "--var",
    "vars_",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a rule variable, e.g. --var HTTP_PORTS=[80,8080].",
)
@json_option("One JSON object per alert, then one with the rule-load report.")
@guarded
def alerts(capture, filter_words, rules, no_builtin, honeypots, vars_, as_json) -> None:
    """Signature alerts from Snort 2 / Suricata rules (and a built-in honeypot ruleset).

    Output like snort's fast alerts, with the frame number: time [gid:sid:rev] msg
    [Classification] [Priority] {PROTO} src:port -> dst:port. Rules are matched on packets,
    reassembled streams and decoded HTTP/DNS buffers as their options require; options we do
    not support are reported per rule (file:line, sid, option) and the rule is skipped or run
    without them, as docs/alerts.md says.

    \b
    Examples:
      honeysift alerts examples/sotm27-mini.pcap
      honeysift alerts capture.pcap --rules emerging-all.rules --no-builtin --json
      honeysift alerts capture.pcap tcp port 80 --var HTTP_PORTS=[80,8080]
    """
    from honeysift.detect.alerts import run_alerts
    from honeysift.report.alerts_text import render_json, render_text

    flt = _filter(filter_words)
    bad = [v for v in vars_ if "=" not in v]
    if bad:
        raise click.UsageError(f"--var {bad[0]!r}: expected NAME=VALUE")
    variables = dict(v.split("=", 1) for v in vars_)
    with _open_and_report(capture) as cap:
        rep = run_alerts(
            cap,
            rules,
            builtin=not no_builtin,
            flt=flt,
            variables=variables,
            honeypots=honeypots,
        )
        click.echo(render_json(rep) if as_json else render_text(rep), nl=False)
        for hit in rep.pcre_limits:  # a crafted payload made a regex give up: say where
            _err(f"warning: {hit}")
