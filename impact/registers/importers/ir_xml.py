"""Incomes Register XML: earnings payment reports (and benefits payment reports) -> the contracts.

Reads the distributions an authority receives (``WageReportsFromIR``, ``BenefitReportsFromIR``)
and the payers' submissions of the same data model (``WageReportRequestToIR`` /
``WageReportsRequestToIR``: the format of the Incomes Register's own example messages, also
inside a SOAP envelope). Streaming: ``lxml.etree.iterparse`` with each ``Report`` cleared once
read, rows flushed to Parquet in chunks, so memory does not grow with the file. Each file is
validated against the public XSD while it is read (``schema_check=False`` skips that); a file
that fails names the element and the line.

One staged row per transaction (per earnings period where a transaction has several: its
amount is split over them by days, cents to the last): report reference and version, status
(valid / cancelled) and action, payer and income earner ids (typed), payment date and pay
period, income type, amount, the recovery flag with the original payment periods, unjust
enrichment, no-money and one-off flags, and IncomeEarnerType 1 (employed with state
employment appropriations). Employment data (employment periods, full/part time, part-time
%, hours, payment type, ending, occupation class) go to ``employments``. Reports without
transactions (absence-only reports) give no earnings rows and are counted.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
from lxml import etree

from impact.registers.importers.earnings import RAW_EARNINGS
from impact.registers.importers.log import ImportLog, ImportRefused, Where, mask_id
from impact.registers.importers.mapping import Mapping

SOAP_ENVELOPE = "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
#: Root element (local name) -> (report type, direction, schema file).
MESSAGES = {
    "WageReportsFromIR": ("wage", "from", "WageReportsFromIR.xsd"),
    "WageReportRequestToIR": ("wage", "to", "WageReportsToIR.xsd"),
    "WageReportsRequestToIR": ("wage", "to", "WageReportsToIR.xsd"),
    "BenefitReportsFromIR": ("benefit", "from", "BenefitReportsFromIR.xsd"),
}
CHUNK_ROWS = 200_000

RAW_BENEFITS: dict[str, pl.DataType] = {
    "_src_file": pl.Int32(), "_src_row": pl.Int64(), "report_seq": pl.Int64(),
    "person_ns": pl.String(), "person_src": pl.String(), "payer_ns": pl.String(), "payer_src": pl.String(),
    "report_ref": pl.String(), "version": pl.Int64(), "status": pl.Int64(), "payment_date": pl.Date(),
    "income_type": pl.Int64(), "amount": pl.Float64(), "recovery": pl.Boolean(),
    "period_start": pl.Date(), "period_end": pl.Date(), "orig_start": pl.Date(), "orig_end": pl.Date(),
}
EMPLOYMENTS: dict[str, pl.DataType] = {
    "_src_file": pl.Int32(), "_src_row": pl.Int64(), "report_seq": pl.Int64(),
    "person_ns": pl.String(), "person_src": pl.String(), "payer_ns": pl.String(), "payer_src": pl.String(),
    "report_ref": pl.String(), "version": pl.Int64(), "status": pl.Int64(),
    "employed": pl.Boolean(), "employment_code": pl.Int64(), "term_code": pl.Int64(), "part_time_pct": pl.Float64(),
    "hours_per_week": pl.Float64(), "payment_type": pl.Int64(), "start_date": pl.Date(), "end_date": pl.Date(),
    "ending_type": pl.Int64(), "ending_code": pl.String(), "profession_type": pl.Int64(),
    "profession_code": pl.String(),
}
_DATE_COLS = {n for n, t in {**RAW_EARNINGS, **RAW_BENEFITS, **EMPLOYMENTS}.items() if t == pl.Date()}
_HETU = r"^\d{6}[-+A-FU-Y]\d{3}[0-9A-FHJ-NPR-Y]$"
_YTUNNUS = r"^\d{7}-\d$"
_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def schema_path(name: str) -> Path:
    return Path(str(resources.files("impact.registers.importers").joinpath("xsd", name)))


_SCHEMAS: dict[str, etree.XMLSchema] = {}


def xml_schema(name: str) -> etree.XMLSchema:
    if name not in _SCHEMAS:
        _SCHEMAS[name] = etree.XMLSchema(etree.parse(str(schema_path(name))))
    return _SCHEMAS[name]


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _t(el: Any, path: str) -> str | None:
    c = el.find(path)
    if c is None or c.text is None:
        return None
    s = c.text.strip()
    return s or None


def _kids(el: Any) -> dict[str, Any]:
    """Children by tag (the last of a repeated tag): one pass instead of one ``find`` per field."""
    return {c.tag: c for c in el} if el is not None else {}


def _texts(el: Any) -> dict[str, str]:
    """Text of each child by tag (whitespace stripped; empty children left out)."""
    if el is None:
        return {}
    out = {}
    for c in el:
        t = c.text
        if t is not None:
            t = t.strip()
            if t:
                out[c.tag] = t
    return out


def _int(s: str | None) -> int | None:
    return int(s) if s is not None else None


def _flag(texts: dict[str, str], tag: str) -> bool | None:
    s = texts.get(tag)
    return None if s is None else s == "true"


class _Sink:
    """Rows (tuples in schema order) flushed to Parquet parts every :data:`CHUNK_ROWS` rows."""

    def __init__(self, folder: Path, schema: dict[str, pl.DataType], check: Any = None):
        self.folder, self.schema, self.check = folder, schema, check
        self.columns = list(schema)
        self.index = {c: i for i, c in enumerate(self.columns)}
        folder.mkdir(parents=True, exist_ok=True)
        self.rows: list[tuple] = []
        self.parts = 0
        self.total = 0

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        strs = {c: (pl.String() if c in _DATE_COLS else t) for c, t in self.schema.items()}
        df = pl.DataFrame(self.rows, schema=strs, orient="row")
        df = df.with_columns([pl.col(c).str.slice(0, 10).str.to_date("%Y-%m-%d") for c in self.schema
                              if c in _DATE_COLS])
        if self.check is not None:
            df = self.check(df)
        df.write_parquet(self.folder / f"part_{self.parts:05d}.parquet")
        self.parts += 1
        self.total += len(self.rows)
        self.rows = []


_E = list(RAW_EARNINGS)
_B = list(RAW_BENEFITS)
_M = list(EMPLOYMENTS)


class XmlReader:
    """Streams Incomes Register XML files into staged Parquet parts (earnings, benefits, employments).

    Parameters
    ----------
    staging
        Folder for the staged parts.
    mapping
        The ``ir-xml`` mapping (identifier preferences, report reference, subsidy codes).
    log
        The import log (refusals, counts).
    files
        The source paths by index (for messages).
    schema_check
        Validate every file against the public XSD while reading it.
    """

    def __init__(self, staging: Path, mapping: Mapping, log: ImportLog, files: list[str], schema_check: bool = True):
        self.log, self.mapping, self.schema_check = log, mapping, schema_check

        def check(df: pl.DataFrame) -> pl.DataFrame:
            return check_ids(check_ids(df, files, log, "person"), files, log, "payer")

        self.earnings = _Sink(staging / "raw_earnings", RAW_EARNINGS, check)
        self.benefits = _Sink(staging / "raw_benefits", RAW_BENEFITS, check)
        self.employments = _Sink(staging / "raw_employments", EMPLOYMENTS)
        self.person_pref = [int(x) for x in mapping.get("ids.person_preference")]
        self.payer_pref = [int(x) for x in mapping.get("ids.payer_preference")]
        self.ref_pref = list(mapping.get("report.reference"))
        self.subsidy_types = {str(x) for x in mapping.get("report.subsidy_earner_types", [])}
        self.messages: dict[str, int] = {}
        self.extraction: list[dt.date] = []
        self.reports = 0
        self.transactions = 0
        self.empty_reports = 0

    # -- files -------------------------------------------------------------------------------
    def read(self, path: Path, index: int) -> None:
        """Stream one file (validated against its XSD unless ``schema_check`` is off)."""
        path = Path(path)
        try:
            root = next(etree.iterparse(str(path), events=("start",)))[1]
        except etree.XMLSyntaxError as e:
            raise ImportRefused(f"{path}, line {e.lineno}: not well-formed XML ({e.msg})") from None
        except StopIteration:
            raise ImportRefused(f"{path}: empty file") from None
        if root.tag == SOAP_ENVELOPE:
            self._read_soap(path, index)
            return
        name = _local(root.tag)
        if name not in MESSAGES:
            raise ImportRefused(f"{path}, line {root.sourceline}: root element {name!r} is not an Incomes Register "
                                f"message this importer reads; expected one of {sorted(MESSAGES)}")
        kind, direction, xsd = MESSAGES[name]
        self.messages[name] = self.messages.get(name, 0) + 1
        schema = xml_schema(xsd) if self.schema_check else None
        etree.clear_error_log()
        state = _State(path, index, kind, direction)
        last = 0
        events = etree.iterparse(str(path), events=("end",), tag="Report", schema=schema, huge_tree=True,
                                 remove_comments=True)
        try:
            for _, el in events:
                last = el.sourceline or last
                if state.seq == 0:
                    self._file_level(el, state)
                try:
                    self._report(el, state)
                except ImportRefused:
                    # the validator may not have reached this report yet: a schema error wins
                    for _ in events:
                        pass
                    raise
                el.clear()
                parent = el.getparent()
                while el.getprevious() is not None:
                    del parent[0]
        except etree.XMLSyntaxError as e:
            raise _xml_error(path, e, last, xsd) from None
        self._extraction(state)

    def _read_soap(self, path: Path, index: int) -> None:
        """A message inside a SOAP envelope (small files): parse, validate the message element, read it."""
        try:
            tree = etree.parse(str(path), parser=etree.XMLParser(remove_comments=True))
        except etree.XMLSyntaxError as e:
            raise ImportRefused(f"{path}, line {e.lineno}: not well-formed XML ({e.msg})") from None
        body = [c for c in tree.getroot() if _local(c.tag) == "Body"]
        msg = next((c for b in body for c in b if _local(c.tag) in MESSAGES), None)
        if msg is None:
            raise ImportRefused(f"{path}: SOAP envelope without an Incomes Register message in its Body")
        name = _local(msg.tag)
        kind, direction, xsd = MESSAGES[name]
        self.messages[name] = self.messages.get(name, 0) + 1
        if self.schema_check:
            schema = xml_schema(xsd)
            if not schema.validate(etree.ElementTree(_detached(msg))):
                err = schema.error_log.last_error
                elem = _element_of(err.message)
                line = _find_line(path, elem, 0) if elem else err.line
                raise ImportRefused(f"{path}, line {line}, element {elem or '?'}: does not match the Incomes Register "
                                    f"schema {xsd}: {err.message}")
        state = _State(path, index, kind, direction)
        for el in msg.iter("Report"):
            if state.seq == 0:
                self._file_level(el, state)
            self._report(el, state)
        self._extraction(state)

    def _extraction(self, state: _State) -> None:
        d = state.query_end or state.query_time or state.delivery_time
        if d is not None:
            self.extraction.append(d)

    def _file_level(self, rep: Any, state: _State) -> None:
        """What precedes the first report: the query (distributions), the delivery's period and payer (ToIR)."""
        reports = rep.getparent()
        outer = reports.getparent() if reports is not None else None
        if outer is None:
            return
        if state.direction == "from":
            q = _texts(outer.find("Query"))
            state.query_end = _date(q.get("QueryTimespanEnd"))
            state.query_time = _date(q.get("QueryTimestamp"))
            return
        dd = _kids(outer)  # ToIR: Reports sits inside DeliveryData, after its payment period and payer
        pp = _texts(dd.get("PaymentPeriod"))
        state.period = (pp.get("PaymentDate"), pp.get("StartDate"), pp.get("EndDate"))
        payer = dd.get("Payer")
        state.payer = self._id(payer.find("PayerIds") if payer is not None else None, self.payer_pref)
        ts = dd.get("Timestamp")
        state.delivery_time = _date(ts.text) if ts is not None else None

    # -- reports -----------------------------------------------------------------------------
    def _id(self, ids: Any, preference: list[int]) -> tuple[str, str] | None:
        """(namespace, code) of the preferred identifier in an Ids element."""
        if ids is None:
            return None
        found: dict[int, tuple[str, str | None]] = {}
        for i in ids:
            tx = _texts(i)
            typ, code = tx.get("Type"), tx.get("Code")
            if typ is not None and code is not None and int(typ) not in found:
                found[int(typ)] = (code, tx.get("CountryCode"))
        if len(found) == 1:
            typ, (code, country) = next(iter(found.items()))
            return _namespace(typ, country), code.upper()
        for typ in preference + sorted(set(found) - set(preference)):
            if typ in found:
                code, country = found[typ]
                return _namespace(typ, country), code.upper()
        return None

    def _report(self, rep: Any, state: _State) -> None:
        self.reports += 1
        state.seq += 1
        seq = state.index * 1_000_000_000 + state.seq
        line = rep.sourceline
        k = _kids(rep)
        if state.direction == "from":
            dd = _kids(k.get("DeliveryData"))
            if state.kind == "wage":
                pp = _texts(dd.get("PaymentPeriod"))
                period = (pp.get("PaymentDate"), pp.get("StartDate"), pp.get("EndDate"))
            else:
                pd_ = dd.get("PaymentDate")
                period = (pd_.text.strip() if pd_ is not None and pd_.text else None, None, None)
            payer_el = dd.get("Payer")
            payer = self._id(payer_el.find("PayerIds") if payer_el is not None else None, self.payer_pref)
        else:
            period, payer = state.period, state.payer
        rd = _texts(k.get("ReportData"))
        ref = next((rd[r] for r in self.ref_pref if rd.get(r)), None)
        status = _int(rd.get("ReportStatus"))
        version = _int(rd.get("ReportVersion"))
        if state.direction == "to":
            action = _int(rd.get("ActionCode"))
            status = 1
            version = 1 if action == 1 else version
        where = Where(str(state.path), line=line, column="ReportData")
        if ref is None:
            self.log.refuse("report_without_reference", 1, where, "ReportId or IRReportId")
            return
        if payer is None:
            self.log.refuse("payer_without_id", 1, Where(str(state.path), line=line, column="PayerIds"),
                            "a payer identifier (PayerIds/Id with Type and Code)")
            return
        earner = _kids(k.get("IncomeEarner"))
        person = self._id(earner.get("IncomeEarnerIds"), self.person_pref)
        txs = k.get("Transactions")
        if txs is None or not len(txs):
            self.empty_reports += 1
        elif person is None:
            self.log.refuse("earner_without_id", len(txs), Where(str(state.path), line=line, column="IncomeEarnerIds"),
                            "an income earner identifier (IncomeEarnerIds/Id with Type and Code)")
            return
        pns, psrc = person if person is not None else (None, None)
        head = (state.index, seq, pns, psrc, payer[0], payer[1], ref, version, status)
        if state.kind == "benefit":
            self._benefit_transactions(txs, head, period, state)
            return
        subsidy = None
        if self.subsidy_types:
            other = earner.get("IncomeEarnerOther")
            types = other.find("IncomeEarnerTypes") if other is not None else None
            subsidy = types is not None and any((x.text or "").strip() in self.subsidy_types for x in types)
        emp = earner.get("Employment")
        if emp is not None and person is not None:
            self._employment(emp, earner, head, line)
        if txs is not None:
            self._wage_transactions(txs, head, period, subsidy, state)

    def _wage_transactions(self, txs: Any, head: tuple, period: tuple, subsidy: bool | None, state: _State) -> None:
        seen: dict[int, int] = {}
        src_file, seq, pns, psrc, yns, ysrc, ref, version, status = head
        for tx in txs:
            self.transactions += 1
            tk = _kids(tx)
            tb = _texts(tk.get("TransactionBasic"))
            code, amount = tb.get("TransactionCode"), tb.get("Amount")
            if code is None:
                self.log.refuse("transaction_without_code", 1,
                                Where(str(state.path), line=tx.sourceline, column="TransactionBasic"),
                                "a TransactionCode (income type)")
                continue
            code = int(code)
            if amount is None:
                self.log.refuse("transaction_without_amount", 1,
                                Where(str(state.path), line=tx.sourceline, column="TransactionBasic"),
                                f"an Amount for income type {code} (TransactionBasic/Amount)")
                continue
            recovery = tb.get("Recovery") == "true"
            orig = (None, None, None)
            rd = tk.get("RecoveryData")
            if rd is not None:
                ops = rd.find("OrigPaymentPeriods")
                if ops is not None:
                    ts = [_texts(o) for o in ops]
                    pay = [o["PaymentDate"] for o in ts if "PaymentDate" in o]
                    starts = [o["StartDate"] for o in ts if "StartDate" in o]
                    ends = [o["EndDate"] for o in ts if "EndDate" in o]
                    orig = (max(pay) if pay else None, min(starts) if starts else None, max(ends) if ends else None)
            eps = tk.get("EarningPeriods")
            periods = [] if eps is None else [(p.get("StartDate"), p.get("EndDate")) for p in map(_texts, eps)]
            flags = (recovery, _flag(tb, "UnjustEnrichment"), _flag(tb, "NoMoney"), _flag(tb, "OneOff"))
            split = _split(float(amount), periods, Where(str(state.path), line=tx.sourceline,
                                                          column="EarningPeriods"), self.log)
            for (ps, pe), amt in split:
                part = seen.get(code, 0)
                seen[code] = part + 1
                # order of RAW_EARNINGS
                self.earnings.add((src_file, tx.sourceline, seq, pns, psrc, yns, ysrc, ref, version, status,
                                   period[0], period[1], period[2], code, amt, part, *flags, ps, pe, *orig, subsidy))

    def _benefit_transactions(self, txs: Any, head: tuple, period: tuple, state: _State) -> None:
        src_file, seq, pns, psrc, yns, ysrc, ref, version, status = head
        for tx in (txs if txs is not None else ()):
            self.transactions += 1
            tk = _kids(tx)
            tb = _texts(tk.get("TransactionBasic"))
            code, amount = tb.get("TransactionCode"), tb.get("Amount")
            if code is None or amount is None:
                self.log.refuse("benefit_transaction_incomplete", 1,
                                Where(str(state.path), line=tx.sourceline, column="TransactionBasic"),
                                "a TransactionCode and an Amount")
                continue
            ep = _texts(tk.get("EarningPeriod"))
            rd = tk.get("RecoveryData")
            og = _texts(rd.find("OrigEarningPeriod")) if rd is not None else {}
            # order of RAW_BENEFITS
            self.benefits.add((src_file, tx.sourceline, seq, pns, psrc, yns, ysrc, ref, version, status, period[0],
                               int(code), float(amount), tb.get("Recovery") == "true", ep.get("StartDate"),
                               ep.get("EndDate"), og.get("StartDate"), og.get("EndDate")))

    def _employment(self, emp: Any, earner: dict, head: tuple, line: int) -> None:
        src_file, seq, pns, psrc, yns, ysrc, ref, version, status = head
        ek = _kids(emp)
        et = _texts(emp)
        profs = earner.get("Professions")
        prof = _texts(profs[0]) if profs is not None and len(profs) else {}
        ends = ek.get("EmploymentEndings")
        ending = _texts(ends[0]) if ends is not None and len(ends) else {}
        ptypes = ek.get("PaymentTypes")
        ptype = _int(ptypes[0].text.strip()) if ptypes is not None and len(ptypes) and ptypes[0].text else None
        pt, hw = et.get("PartTime"), et.get("HoursPerWeek")
        rest = (_flag(et, "Employed"), _int(et.get("EmploymentCode")), _int(et.get("TermCode")),
                float(pt) if pt else None, float(hw) if hw else None, ptype)
        periods = ek.get("EmploymentPeriods")
        spans = [(_texts(p).get("StartDate"), _texts(p).get("EndDate")) for p in periods] if periods is not None else []
        for ps, pe in spans or [(None, None)]:
            # order of EMPLOYMENTS
            self.employments.add((src_file, line, seq, pns, psrc, yns, ysrc, ref, version, status, *rest, ps, pe,
                                  _int(ending.get("Type")), ending.get("Code"), _int(prof.get("Type")),
                                  prof.get("Code")))

    def close(self) -> None:
        for s in (self.earnings, self.benefits, self.employments):
            s.flush()


class _State:
    """What a file's reports share: its index, and a ToIR delivery's payment period and payer."""

    def __init__(self, path: Path, index: int, kind: str, direction: str):
        self.path, self.index, self.kind, self.direction = path, index, kind, direction
        self.seq = 0
        self.period: tuple = (None, None, None)
        self.payer: tuple[str, str] | None = None
        self.query_end: dt.date | None = None
        self.query_time: dt.date | None = None
        self.delivery_time: dt.date | None = None


def _namespace(typ: int, country: str | None) -> str:
    if typ == 2:
        return "hetu"
    if typ == 1:
        return "ytunnus"
    return f"foreign:{typ}:{(country or '').upper()}"


def _date(s: str | None) -> dt.date | None:
    if not s:
        return None
    return dt.date.fromisoformat(s.strip()[:10])


def _split(amount: float, periods: list[tuple[str | None, str | None]], where: Where, log: ImportLog):
    """The amount over the transaction's earnings periods, pro rata by days (cents; remainder to the last)."""
    periods = [p for p in periods if p[0] or p[1]]
    if len(periods) <= 1:
        return [((periods[0] if periods else (None, None)), amount)]
    try:
        days = [(dt.date.fromisoformat(e) - dt.date.fromisoformat(s)).days + 1 for s, e in periods]
    except (TypeError, ValueError):
        log.refuse("earning_period_incomplete", 1, where, "every EarningPeriod of a transaction with several to "
                   "have a StartDate and an EndDate")
        return []
    total = sum(days)
    cents = round(amount * 100)
    shares = [round(cents * d / total) for d in days[:-1]]
    shares.append(cents - sum(shares))
    log.count("earning_periods_split", len(periods), "transactions with several earnings periods: one row per "
              "period, the amount split by days")
    return [(p, c / 100) for p, c in zip(periods, shares)]


_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")


def _element_of(message: str) -> str | None:
    m = _ELEMENT.search(message or "")
    return m.group(1) if m else None


def _find_line(path: Path, element: str | None, after: int) -> int:
    """Line of the first ``element`` at or after line ``after`` (a plain, non-validating pass)."""
    if not element:
        return after
    try:
        for _, el in etree.iterparse(str(path), events=("start",), huge_tree=True, recover=True):
            if _local(el.tag) == element and (el.sourceline or 0) >= after:
                return el.sourceline
    except etree.XMLSyntaxError:
        pass
    return after


def _xml_error(path: Path, e: etree.XMLSyntaxError, last_line: int, xsd: str) -> ImportRefused:
    entries = list(e.error_log) if e.error_log else []
    # the most recent entries: a cached schema's log may still hold errors of earlier files
    schema_err = next((x for x in reversed(entries) if x.domain_name.startswith("SCHEMAS")), None)
    parse_err = next((x for x in reversed(entries) if x.domain_name == "PARSER"), None)
    if schema_err is None and (parse_err is not None or "SCHEMAS" not in str(e)):
        err = parse_err
        line = (err.line if err is not None else None) or e.lineno
        msg = err.message if err is not None else e.msg
        truncated = "premature end" in msg.lower() or "end of data" in msg.lower() or "expected '>'" in msg.lower()
        hint = "; the file seems truncated (it ends inside an element)" if truncated else ""
        return ImportRefused(f"{path}, line {line}: not well-formed XML ({msg.strip()}){hint}")
    msg = schema_err.message.strip() if schema_err is not None else e.msg
    elem = _element_of(msg)
    line = schema_err.line if schema_err is not None and schema_err.line else _find_line(path, elem, last_line)
    ended = parse_err is not None and "premature end" in parse_err.message.lower()
    also = "; the file also ends inside an element (truncated?)" if ended else ""
    return ImportRefused(f"{path}, line {line}, element {elem or '?'}: does not match the Incomes Register schema "
                         f"{xsd}: {msg}{also}")


def _detached(el: Any) -> Any:
    """A copy of ``el`` as the root of its own document (for validating a message inside SOAP)."""
    import copy

    return copy.deepcopy(el)


def check_ids(df: pl.DataFrame, files: list[str], log: ImportLog, who: str = "person") -> pl.DataFrame:
    """Refuse ids whose form is wrong for their type; count those whose check character fails.

    Finnish personal identity codes (``hetu``: ddmmyy, century sign, individual number, check
    character) and business ids (``ytunnus``: 7 digits, hyphen, check digit) are checked; the
    Incomes Register's example messages use ids whose check characters do not verify, so a
    failing check character is counted (``id_check_failed``), not refused.
    """
    ns, src = f"{who}_ns", f"{who}_src"
    if df.is_empty() or ns not in df.columns:
        return df
    hetu = pl.col(ns) == "hetu"
    yt = pl.col(ns) == "ytunnus"
    bad_form = (hetu & ~pl.col(src).str.contains(_HETU)) | (yt & ~pl.col(src).str.contains(_YTUNNUS)) | \
        (pl.col(src).str.len_chars() == 0)
    flags = df.select(bad_form.fill_null(False).alias("b"))["b"]
    if flags.any():
        i = int(flags.arg_max())
        row = df.row(i, named=True)
        log.refuse(f"{who}_id_malformed", int(flags.sum()),
                   Where(files[row["_src_file"]], line=row["_src_row"], column="Id/Code"),
                   f"a {who} id of the form its Type says ({row[ns]}: "
                   + ("ddmmyy, century sign, 3 digits and a check character" if row[ns] == "hetu" else
                      "7 digits, a hyphen and a check digit" if row[ns] == "ytunnus" else "non-empty") + ")",
                   mask_id(row[src]))
        df = df.filter(~flags)
    digits = pl.col(src).str.slice(0, 6) + pl.col(src).str.slice(7, 3)
    idx = digits.cast(pl.Int64, strict=False) % 31
    check = idx.replace_strict(list(range(31)), list(_HETU_CHECK), default=None, return_dtype=pl.String)
    w = [7, 9, 10, 5, 8, 4, 2]
    ysum = sum(pl.col(src).str.slice(k, 1).cast(pl.Int64, strict=False) * w[k] for k in range(7))
    ycheck = (11 - ysum % 11) % 11
    fails = (hetu & (check != pl.col(src).str.slice(10, 1))) | \
        (yt & ((ysum % 11 == 1) | (ycheck.cast(pl.String) != pl.col(src).str.slice(8, 1))))
    n = int(df.select(fails.fill_null(False).sum()).item())
    log.count(f"{who}_id_check_failed", n, f"{who} ids of the right form whose check character does not verify "
              "(kept: the Incomes Register's own example ids fail it)")
    return df


__all__ = ["MESSAGES", "RAW_BENEFITS", "EMPLOYMENTS", "XmlReader", "check_ids", "schema_path", "xml_schema"]


# ---------------------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------------------


def run_ir_xml(ctx: Any) -> Any:
    """Read the XML files of an import and build its tables (``earnings_reports``,
    ``benefit_reports``, ``employments``) as Ibis expressions on the staged rows."""
    import ibis

    from impact.registers.importers.earnings import finalise_earnings
    from impact.registers.importers.tables import Produced

    if ctx.options.con is not None:
        raise ImportRefused("ir-xml: XML files are read locally; the warehouse path (--backend) applies to the "
                            "fiona-* kinds, whose tables can live in a warehouse")
    reader = XmlReader(ctx.staging, ctx.mapping, ctx.log, ctx.files, ctx.options.schema_check)
    for i, p in enumerate(ctx.sources):
        reader.read(p, i)
    reader.close()
    con, log = ctx.con, ctx.log
    log.read("reports", reader.reports)
    log.read("transactions", reader.transactions)
    log.count("reports_without_transactions", reader.empty_reports,
              "reports without transactions (e.g. absence-only reports): no earnings rows")
    staged = {name: con.read_parquet(str(sink.folder / "*.parquet"))
              for name, sink in (("earnings", reader.earnings), ("benefits", reader.benefits),
                                 ("employments", reader.employments)) if sink.parts}
    ctx.keys.extend_from(list(staged.values()))
    tables = {}
    vintage = str(ctx.mapping.get("income_type_vintage", "2022"))
    if "earnings" in staged:
        tables["earnings_reports"] = finalise_earnings(staged["earnings"], ctx.keys, log, ctx.files, vintage)
    if "benefits" in staged:
        tables["benefit_reports"] = _benefit_reports(staged["benefits"], ctx, log)
    if "employments" in staged:
        tables["employments"] = _employments(staged["employments"], ctx)
    extraction = max(reader.extraction).isoformat() if reader.extraction else None
    entry = {"source_kind": "ir-xml", "message_types": reader.messages,
             "reports": "as_delivered (report versions, replacements and cancellations resolved by the outcome stage)",
             "extraction_date": extraction,
             "extraction_date_from": "XML: Query/QueryTimespanEnd (distributions) or DeliveryData/Timestamp "
                                     "(submissions), latest over the files" if extraction else None,
             "reports_read": reader.reports, "transactions_read": reader.transactions,
             "schema_checked": ctx.options.schema_check}
    return Produced(tables=tables, entry=entry)


def _latest_valid(t: Any, log: ImportLog, what: str) -> Any:
    """Rows of the latest version of each (payer, report reference); a cancelled latest version drops it."""
    import ibis

    key = [t.payer_ns, t.payer_src, t.report_ref]
    rank = ibis.dense_rank().over(group_by=key, order_by=[ibis.desc(t.version.fill_null(0)), ibis.desc(t.report_seq)])
    t = t.mutate(_r=rank)
    n_old = t.filter(t._r > 0).count().to_pyarrow().as_py()
    log.count(f"{what}_superseded_version", n_old, f"{what}: rows of an earlier version of a report (latest kept)")
    t = t.filter(t._r == 0)
    n_cancel = t.filter(t.status.fill_null(1) == 2).count().to_pyarrow().as_py()
    log.count(f"{what}_cancelled", n_cancel, f"{what}: rows of a report whose latest version is cancelled (dropped)")
    return t.filter(t.status.fill_null(1) != 2).drop("_r")


def _benefit_reports(raw: Any, ctx: Any, log: ImportLog) -> Any:
    import ibis

    from impact.registers.importers.tables import translate
    from impact.registers.schema import CONTRACTS

    t = _latest_valid(raw, log, "benefits")
    t = t.mutate(_code=t.income_type.cast("string"))
    t = translate(t, "_code", {str(k): v for k, v in ctx.mapping.get("benefit_types", {}).items()},
                  "benefit_type", "benefit_types", log, ctx.files)
    rec = t.recovery.fill_null(False)
    start = ibis.cases((rec & t.orig_start.notnull(), t.orig_start), else_=t.period_start)
    end = ibis.cases((rec & t.orig_end.notnull(), t.orig_end), else_=t.period_end)
    no_period = t.filter(start.isnull() | end.isnull()).count().to_pyarrow().as_py()
    log.count("benefit_without_earning_period", no_period,
              "benefit rows without an earnings period: the payment date is used as the period")
    t = ctx.keys.lookup(t, "person", "person_ns", "person_src", "person_id")
    out = t.select(person_id=t.person_id, benefit_type=t.benefit_type, payment_date=t.payment_date,
                   period_start=start.fill_null(t.payment_date), period_end=end.fill_null(t.payment_date),
                   amount_eur=ibis.cases((rec, -t.amount.abs()), else_=t.amount))
    return out.select(*CONTRACTS["benefit_reports"].column_names)


#: Columns of the (non-contract) ``employments`` table.
EMPLOYMENT_COLUMNS = ("person_id", "payer_id", "report_ref", "version", "start_date", "end_date", "employed",
                      "employment_code", "term_code", "part_time_pct", "hours_per_week", "payment_type",
                      "ending_type", "ending_code", "profession_type", "profession_code")


def _employments(raw: Any, ctx: Any) -> Any:
    t = _latest_valid(raw, ctx.log, "employments")
    t = ctx.keys.lookup(t, "person", "person_ns", "person_src", "person_id")
    t = ctx.keys.lookup(t, "payer", "payer_ns", "payer_src", "payer_id")
    return t.select(*EMPLOYMENT_COLUMNS)
