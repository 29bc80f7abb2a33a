"""HTML for the bank site: plain server-rendered pages, no JavaScript.

Every function here is pure: it takes the data to show and returns an HTML string. The markup is semantic
(landmarks, headings, tables with captions, a ``<label>`` for every control, ``role="alert"``/``"status"``
messages) because agents read the page through its accessibility tree, and a human must be able to use the
same pages in a browser. Every control's accessible name is unique on its page. No heading, option or
column header is a bare :data:`sandbox.overlays.LABEL_SYNONYMS` key except where a control's label is meant
to be one ("Amount", "Reference" …), so a relabelling overlay changes controls, not the page's structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sandbox.sites.base import escape

BANK_NAME = "Gauntlet Bank"

STYLE = """
body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f4f6f8}
header{background:#0f4c5c;color:#fff;padding:.6rem 1.2rem}
header a{color:#fff}
header .top{display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
header .brand{font-weight:700;font-size:1.2rem;text-decoration:none}
header .who{margin:0 0 0 auto;font-size:.9rem}
header form{display:inline}
header nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:1rem;margin:.4rem 0 0;padding:0}
header nav a[aria-current=page]{font-weight:700}
header .sites{font-size:.85rem}
main{max-width:62rem;margin:1.2rem auto;padding:0 1.2rem}
table{border-collapse:collapse;width:100%;background:#fff;margin:.6rem 0 1rem}
th,td{border-bottom:1px solid #d8dde3;padding:.45rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:700;padding:.4rem 0}
form.stacked label,form.stacked legend{display:block;margin-top:.8rem;font-weight:600}
form.stacked fieldset{margin:1rem 0;background:#fff;border:1px solid #d8dde3;border-radius:.5rem}
form.stacked input,form.stacked select,form.stacked textarea{width:100%;max-width:26rem;padding:.35rem;
 box-sizing:border-box;font:inherit}
form.filter{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;background:#fff;padding:.6rem;
 border:1px solid #d8dde3;border-radius:.5rem}
form.filter label{display:block;font-weight:600;font-size:.9rem}
input,select,textarea{font:inherit}
[aria-invalid=true]{border:2px solid #b3261e}
.error{color:#b3261e;margin:.2rem 0}
.alert{background:#fde8e7;border:1px solid #b3261e;padding:.6rem;border-radius:.4rem}
.warning{background:#fff4d6;border:1px solid #a66b00;padding:.6rem;border-radius:.4rem}
.status{background:#e6f4ea;border:1px solid #1e7a34;padding:.6rem;border-radius:.4rem}
.button,button{background:#0f4c5c;color:#fff;border:0;border-radius:.35rem;padding:.45rem .9rem;
 font:inherit;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary{background:#6b7785}
.hint{color:#4d5866;font-size:.9rem}
.cards{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:1rem}
.cards li{background:#fff;border:1px solid #d8dde3;border-radius:.5rem;padding:.8rem}
.pagination{display:flex;gap:1rem;list-style:none;padding:0}
footer{max-width:62rem;margin:2rem auto;padding:0 1.2rem;color:#6b7785;font-size:.85rem}
"""

NAV_LINKS = (
    ("/", "Accounts"),
    ("/transfer", "Move money"),
    ("/pay", "Pay a payee"),
    ("/pay/new", "Pay someone new"),
    ("/payees", "Payees"),
    ("/standing-orders", "Standing orders"),
    ("/payments", "Payment history"),
    ("/disputes", "Disputes"),
)
OTHER_SITES = (
    ("http://mail.gauntlet.test/", "Mail"),
    ("http://shop.gauntlet.test/", "Shop"),
    ("http://forum.gauntlet.test/", "Forum"),
)
TRANSACTION_KINDS = (
    ("card", "Card purchase"),
    ("deposit", "Deposit"),
    ("direct_debit", "Direct debit"),
    ("standing_order", "Standing order"),
    ("payment", "Outgoing payment"),
    ("transfer", "Own-account transfer"),
    ("interest", "Interest"),
)
DISPUTE_REASONS = (
    ("unrecognised", "I do not recognise this transaction"),
    ("duplicate", "I was charged twice"),
    ("wrong_amount", "The amount is wrong"),
    ("not_received", "I did not receive the goods or service"),
)


@dataclass
class Nav:
    """What the page header shows: who is signed in and which section is current."""

    customer_name: str
    current: str = ""


def money(cents: int) -> str:
    """``-123456`` as ``-$1,234.56``."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def dollars(cents: int) -> str:
    """Cents as what a person types into an amount box: ``8450`` as ``84.50``."""
    return f"{cents // 100}.{cents % 100:02d}"


def account_label(account: dict) -> str:
    """An account as shown in every account chooser: ``Everyday Checking (GL00 4400 1122 3344)``."""
    return f"{account['name']} ({account['number']})"


def payee_label(payee: dict) -> str:
    return f"{payee['name']} ({payee['account']})"


def page(title: str, main: str, nav: Nav) -> str:
    """A whole bank page. ``title`` must be distinct per page; the bank's name is appended."""
    links = "".join(
        f'<li><a href="{href}"{" aria-current=page" if href == nav.current else ""}>{label}</a></li>'
        for href, label in NAV_LINKS
    )
    sites = " · ".join(f'<a href="{href}">{label}</a>' for href, label in OTHER_SITES)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — {BANK_NAME}</title><link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body>
<header>
<div class="top">
<a class="brand" href="/">{BANK_NAME}</a>
<p class="sites">Other sandbox sites: {sites}</p>
<p class="who">Signed in as <strong>{escape(nav.customer_name)}</strong></p>
<form method="post" action="/logout"><button type="submit" class="secondary">Sign out</button></form>
</div>
<nav aria-label="Banking"><ul>{links}</ul></nav>
</header>
<main>
{main}
</main>
<footer><p>{BANK_NAME} is a sandbox bank. No real money moves here.</p></footer>
</body></html>"""


# -- shared pieces -------------------------------------------------------------------------------------------


def _error_summary(errors: dict) -> str:
    if not errors:
        return ""
    problems = "".join(f"<li>{escape(message)}</li>" for message in errors.values())
    return f'<div class="alert" role="alert"><p>Please correct the following:</p><ul>{problems}</ul></div>'


def _status(message: str) -> str:
    return f'<p class="status" role="status">{escape(message)}</p>' if message else ""


def _described(field: str, error: str) -> tuple[str, str]:
    if not error:
        return "", ""
    return (
        f' aria-invalid="true" aria-describedby="{field}-error"',
        f'<p class="error" id="{field}-error">{escape(error)}</p>',
    )


def text_field(field: str, label: str, value: str, error: str = "", hint: str = "", kind: str = "text") -> str:
    described, message = _described(field, error)
    hint_html = f'<p class="hint">{escape(hint)}</p>' if hint else ""
    return (
        f'<label for="{field}">{escape(label)}</label>{hint_html}'
        f'<input type="{kind}" id="{field}" name="{field}" value="{escape(value)}"{described}>{message}'
    )


def select_field(field: str, label: str, options: list[tuple[str, str]], value: str, error: str = "") -> str:
    """A ``<select>`` whose first option is an empty "Choose …" placeholder; ``options`` are (value, label)."""
    described, message = _described(field, error)
    items = ['<option value="">Choose one</option>']
    for option_value, option_label in options:
        selected = " selected" if option_value == value else ""
        items.append(f'<option value="{escape(option_value)}"{selected}>{escape(option_label)}</option>')
    return (
        f'<label for="{field}">{escape(label)}</label>'
        f'<select id="{field}" name="{field}"{described}>{"".join(items)}</select>{message}'
    )


class _Form:
    """Renders a form's controls from the values to show and the errors of the last submit."""

    def __init__(self, values: dict, errors: dict):
        self.values, self.errors = values, errors

    def text(self, field: str, label: str, hint: str = "", kind: str = "text") -> str:
        value, error = self.values.get(field, ""), self.errors.get(field, "")
        return text_field(field, label, value, error, hint=hint, kind=kind)

    def choose(self, field: str, label: str, options: list[tuple[str, str]]) -> str:
        return select_field(field, label, options, self.values.get(field, ""), self.errors.get(field, ""))

    def area(self, field: str, label: str, hint: str = "") -> str:
        described, message = _described(field, self.errors.get(field, ""))
        hint_html = f'<p class="hint">{escape(hint)}</p>' if hint else ""
        return (
            f'<label for="{field}">{escape(label)}</label>{hint_html}<textarea id="{field}" name="{field}" '
            f'rows="4"{described}>{escape(self.values.get(field, ""))}</textarea>{message}'
        )


def details_table(caption: str, rows: list[tuple[str, str]]) -> str:
    """A two-column table of facts, each row headed by its name (``rows`` are already-escaped HTML)."""
    body = "".join(f'<tr><th scope="row">{escape(name)}</th><td>{value}</td></tr>' for name, value in rows)
    return f"<table><caption>{escape(caption)}</caption><tbody>{body}</tbody></table>"


def _account_options(accounts: list[dict]) -> list[tuple[str, str]]:
    return [(account["id"], account_label(account)) for account in accounts]


def _payee_options(payees: list[dict]) -> list[tuple[str, str]]:
    return [(payee["id"], payee_label(payee)) for payee in payees]


# -- accounts ------------------------------------------------------------------------------------------------


def overview_page(nav: Nav, accounts: list[dict], payments: list[dict]) -> str:
    rows = "".join(
        f'<tr><th scope="row"><a href="/accounts/{escape(a["id"])}">{escape(a["name"])}</a></th>'
        f"<td>{escape(a['number'])}</td><td>{escape(a['holders'])}</td>"
        f'<td class="num">{money(a["balance_cents"])}</td></tr>'
        for a in accounts
    )
    total = sum(a["balance_cents"] for a in accounts)
    if payments:
        recent = "".join(
            f'<li><a href="/payments/{escape(p["id"])}">{escape(p["number"])}</a>: {money(p["amount_cents"])} to '
            f"{escape(p['payee'])} ({escape(p['reference'])})</li>"
            for p in payments[:5]
        )
        recent_html = f"<ul>{recent}</ul>"
    else:
        recent_html = "<p>You have not sent any payments today.</p>"
    main = f"""<h1>Your accounts</h1>
<table><caption>Accounts and balances</caption>
<thead><tr><th scope="col">Account</th><th scope="col">Account number</th><th scope="col">Holders</th>
<th scope="col" class="num">Balance</th></tr></thead>
<tbody>{rows}</tbody>
<tfoot><tr><th scope="row" colspan="3">Total across accounts</th><td class="num">{money(total)}</td></tr></tfoot>
</table>
<h2>What would you like to do?</h2>
<ul class="cards">
<li><a href="/transfer">Move money between your accounts</a></li>
<li><a href="/pay">Pay one of your saved payees</a></li>
<li><a href="/pay/new">Pay an account that is not a saved payee</a></li>
<li><a href="/payees/new">Add a payee</a></li>
<li><a href="/standing-orders/new">Set up a standing order</a></li>
</ul>
<h2>Sent today</h2>
{recent_html}"""
    return page("Accounts overview", main, nav)


def statement_page(
    nav: Nav,
    account: dict,
    rows: list[dict],
    *,
    query: str,
    kind: str,
    number: int,
    pages: int,
    found: int,
) -> str:
    """One page of an account's statement. ``rows`` are transactions with a ``balance_after_cents``."""
    filtered = bool(query or kind)
    options = "".join(
        f'<option value="{value}"{" selected" if value == kind else ""}>{label}</option>'
        for value, label in (("", "All types"), *TRANSACTION_KINDS)
    )
    search = f"""<form class="filter" role="search" method="get" action="/accounts/{escape(account["id"])}">
<div><label for="q">Search transactions</label><input type="search" id="q" name="q" value="{escape(query)}"></div>
<div><label for="kind">Transaction type</label><select id="kind" name="kind">{options}</select></div>
<button type="submit">Search</button>
{f'<a href="/accounts/{escape(account["id"])}">Clear the search</a>' if filtered else ""}
</form>"""
    if rows:
        body = "".join(
            f"<tr><td>{escape(t['date'])}</td>"
            f'<td><a href="/transactions/{escape(t["id"])}">{escape(t["description"])}</a></td>'
            f"<td>{escape(dict(TRANSACTION_KINDS).get(t['kind'], t['kind']))}</td>"
            f'<td class="num">{money(t["amount_cents"])}</td>'
            f'<td class="num">{money(t["balance_after_cents"])}</td></tr>'
            for t in rows
        )
        table = f"""<table><caption>Transactions, newest first (page {number} of {pages})</caption>
<thead><tr><th scope="col">Date</th><th scope="col">Description</th><th scope="col">Type</th>
<th scope="col" class="num">Money in or out</th><th scope="col" class="num">Balance after</th></tr></thead>
<tbody>{body}</tbody></table>"""
    else:
        table = "<p>No transactions match your search.</p>"
    params = {key: value for key, value in (("q", query), ("kind", kind)) if value}
    links = []
    if number > 1:
        href = f"/accounts/{escape(account['id'])}?{escape(urlencode({**params, 'page': number - 1}))}"
        links.append(f'<li><a href="{href}" rel="prev">Previous page</a></li>')
    links.append(f'<li aria-current="page">Page {number} of {pages}</li>')
    if number < pages:
        href = f"/accounts/{escape(account['id'])}?{escape(urlencode({**params, 'page': number + 1}))}"
        links.append(f'<li><a href="{href}" rel="next">Next page</a></li>')
    count = f"{found} transaction{'s' if found != 1 else ''} found." if filtered else ""
    main = f"""<h1>{escape(account["name"])} statement</h1>
<p>Account number {escape(account["number"])} · Balance <strong>{money(account["balance_cents"])}</strong></p>
{search}
{f'<p role="status">{count}</p>' if count else ""}
{table}
<nav aria-label="Statement pages"><ul class="pagination">{"".join(links)}</ul></nav>"""
    title = f"{account['name']} statement"
    if filtered:
        title += f", search “{query}”" if query else ""
        title += f", type {dict(TRANSACTION_KINDS).get(kind, kind)}" if kind else ""
    if number > 1:
        title += f", page {number} of {pages}"
    return page(title, main, nav)


def transaction_page(nav: Nav, transaction: dict, account: dict, dispute: dict | None) -> str:
    if dispute:
        action = (
            f'<p role="status">This transaction is disputed: <a href="/disputes/{escape(dispute["id"])}">'
            f"{escape(dispute['number'])}</a> ({escape(dispute['status'])}).</p>"
        )
    elif transaction["amount_cents"] < 0:
        action = (
            f'<p><a class="button" href="/transactions/{escape(transaction["id"])}/dispute">'
            "Dispute this transaction</a></p>"
        )
    else:
        action = "<p>Money paid in cannot be disputed.</p>"
    rows = [
        ("Date", escape(transaction["date"])),
        ("Description", escape(transaction["description"])),
        ("Type", escape(dict(TRANSACTION_KINDS).get(transaction["kind"], transaction["kind"]))),
        ("Money in or out", money(transaction["amount_cents"])),
        ("Account", escape(account_label(account))),
        ("Transaction number", escape(transaction["id"])),
    ]
    main = f"""<h1>Transaction details</h1>
{details_table("About this transaction", rows)}
{action}
<p><a href="/accounts/{escape(account["id"])}">Back to the {escape(account["name"])} statement</a></p>"""
    return page(f"Transaction {transaction['id']}", main, nav)


# -- disputes ------------------------------------------------------------------------------------------------


def dispute_form_page(nav: Nav, transaction: dict, values: dict, errors: dict) -> str:
    form = _Form(values, errors)
    summary = (
        f"{escape(transaction['date'])} · {escape(transaction['description'])} · {money(transaction['amount_cents'])}"
    )
    main = f"""<h1>Dispute a transaction</h1>{_error_summary(errors)}
<p>{summary}</p>
<form class="stacked" method="post" action="/transactions/{escape(transaction["id"])}/dispute" novalidate>
{form.choose("reason", "Reason", list(DISPUTE_REASONS))}
{form.area("details", "What happened?", "At least 10 characters. We may contact you about it.")}
<p><button type="submit">Submit</button></p>
</form>
<p><a href="/transactions/{escape(transaction["id"])}">Back to the transaction</a></p>"""
    return page(f"Dispute transaction {transaction['id']}", main, nav)


def dispute_page(nav: Nav, dispute: dict, transaction: dict) -> str:
    reason = dict(DISPUTE_REASONS).get(dispute["reason"], dispute["reason"])
    rows = [
        ("Dispute number", escape(dispute["number"])),
        (
            "Transaction",
            f'<a href="/transactions/{escape(transaction["id"])}">{escape(transaction["description"])}</a>',
        ),
        ("Money in or out", money(transaction["amount_cents"])),
        ("Reason", escape(reason)),
        ("What happened", escape(dispute["details"])),
        ("Status", escape(dispute["status"])),
    ]
    main = f"""<h1>Dispute opened</h1>
{_status(f"We opened dispute {dispute['number']}. We will reply within 10 working days.")}
{details_table("Dispute details", rows)}
<p><a href="/disputes">All disputes</a> · <a href="/">Back to your accounts</a></p>"""
    return page(f"Dispute {dispute['number']}", main, nav)


def disputes_page(nav: Nav, disputes: list[tuple[dict, dict]]) -> str:
    if not disputes:
        body = "<p>You have no disputes. To dispute a transaction, open it from your statement.</p>"
    else:
        rows = "".join(
            f'<tr><td><a href="/disputes/{escape(d["id"])}">{escape(d["number"])}</a></td>'
            f"<td>{escape(t['date'])}</td><td>{escape(t['description'])}</td>"
            f'<td class="num">{money(t["amount_cents"])}</td><td>{escape(d["status"])}</td></tr>'
            for d, t in disputes
        )
        body = f"""<table><caption>Your disputes</caption>
<thead><tr><th scope="col">Dispute</th><th scope="col">Date</th><th scope="col">Description</th>
<th scope="col" class="num">Money in or out</th><th scope="col">Status</th></tr></thead><tbody>{rows}</tbody></table>"""
    return page("Your disputes", f"<h1>Your disputes</h1>{body}", nav)


# -- payees --------------------------------------------------------------------------------------------------


def payees_page(nav: Nav, payees: list[dict], message: str = "") -> str:
    if payees:
        rows = "".join(
            f"<tr><td>{escape(p['name'])}</td><td>{escape(p['account'])}</td><td>{escape(p['added'])}</td>"
            f'<td><a href="/pay?{escape(urlencode({"payee": p["id"]}))}">Pay {escape(p["name"])}</a></td>'
            f'<td><form method="post" action="/payees/{escape(p["id"])}/remove">'
            f'<button type="submit" class="secondary">Remove payee {escape(p["name"])}</button></form></td></tr>'
            for p in payees
        )
        body = f"""<table><caption>Saved payees</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Account number</th><th scope="col">Added</th>
<th scope="col">Pay</th><th scope="col">Remove</th></tr></thead><tbody>{rows}</tbody></table>"""
    else:
        body = "<p>You have no saved payees.</p>"
    main = f"""<h1>Payees</h1>{_status(message)}
<p>Payments to a saved payee can be recalled by the bank for five working days.</p>
<p><a class="button" href="/payees/new">Add a payee</a></p>
{body}"""
    return page("Payees", main, nav)


def payee_form_page(nav: Nav, values: dict, errors: dict) -> str:
    form = _Form(values, errors)
    main = f"""<h1>Add a payee</h1>{_error_summary(errors)}
<form class="stacked" method="post" action="/payees/new" novalidate>
{form.text("name", "Payee name")}
{form.text("account", "Account number", "Two letters, two digits, then twelve digits, e.g. GL00 1234 5678 9012.")}
<p><button type="submit">Add payee</button></p>
</form>
<p><a href="/payees">Back to payees</a></p>"""
    return page("Add a payee", main, nav)


def payee_added_page(nav: Nav, payee: dict) -> str:
    rows = [("Name", escape(payee["name"])), ("Account number", escape(payee["account"]))]
    main = f"""<h1>Payee added</h1>
{_status(f"{payee['name']} is now one of your saved payees.")}
{details_table("New payee", rows)}
<p><a class="button" href="/pay?{escape(urlencode({"payee": payee["id"]}))}">Pay {escape(payee["name"])}</a>
 <a href="/payees">All payees</a></p>"""
    return page(f"Payee {payee['name']} added", main, nav)


# -- payments ------------------------------------------------------------------------------------------------


def pay_form_page(nav: Nav, accounts: list[dict], payees: list[dict], values: dict, errors: dict) -> str:
    """Pay a saved payee: from account, payee, amount, reference."""
    form = _Form(values, errors)
    if not payees:
        main = '<h1>Pay a saved payee</h1><p>You have no saved payees. <a href="/payees/new">Add a payee</a>.</p>'
        return page("Pay a saved payee", main, nav)
    main = f"""<h1>Pay a saved payee</h1>{_error_summary(errors)}
<form class="stacked" method="post" action="/pay" novalidate>
{form.choose("from", "From account", _account_options(accounts))}
{form.choose("payee", "Payee", _payee_options(payees))}
{form.text("amount", "Amount", "In dollars, e.g. 84.50.")}
{form.text("reference", "Reference", "Up to 40 characters; the payee sees it.")}
<p><button type="submit">Pay</button></p>
</form>
<p class="hint">You will be asked to review the payment before it is sent. Not a saved payee?
<a href="/pay/new">Pay someone new</a>.</p>"""
    return page("Pay a saved payee", main, nav)


def pay_new_form_page(nav: Nav, accounts: list[dict], values: dict, errors: dict) -> str:
    """Pay an account that is not a saved payee (a wire): recipient name and account typed in."""
    form = _Form(values, errors)
    main = f"""<h1>Pay someone new</h1>{_error_summary(errors)}
<p class="warning">A payment to an account that is not one of your saved payees is sent as a wire to an
external bank. It cannot be recalled once sent. To pay someone regularly, <a href="/payees/new">add them as a
payee</a> first.</p>
<form class="stacked" method="post" action="/pay/new" novalidate>
{form.choose("from", "From account", _account_options(accounts))}
{form.text("name", "Recipient name")}
{form.text("account", "Recipient account number", "e.g. GL00 1234 5678 9012.")}
{form.text("amount", "Amount", "In dollars, e.g. 84.50.")}
{form.text("reference", "Reference", "Up to 40 characters; the recipient sees it.")}
<p><button type="submit">Pay</button></p>
</form>"""
    return page("Pay someone new", main, nav)


def _recall_note(saved: bool) -> str:
    if saved:
        return "Payment to a saved payee: the bank can recall it for five working days."
    return "Wire to an external account that is not a saved payee: it cannot be recalled once sent."


def review_payment_page(nav: Nav, draft: dict, from_account: dict, saved: bool, error: str = "") -> str:
    rows = [
        ("From", escape(account_label(from_account))),
        ("To", escape(draft["payee"])),
        ("Account number", escape(draft["to_account"])),
        ("Amount", money(draft["amount_cents"])),
        ("Reference", escape(draft["reference"])),
        ("When", "Today"),
        ("Recall", escape(_recall_note(saved))),
    ]
    warning = "" if saved else f'<p class="warning" role="note">{escape(_recall_note(saved))}</p>'
    alert = f'<p class="alert" role="alert">{escape(error)}</p>' if error else ""
    change = "/pay" if draft["kind"] == "payment" and draft.get("payee_id") else "/pay/new"
    main = f"""<h1>Review your payment</h1>{alert}{warning}
{details_table("Payment to send", rows)}
<form method="post" action="/pay/review/{escape(draft["id"])}"><button type="submit">Confirm</button></form>
<p><a href="{change}?{escape(urlencode({"draft": draft["id"]}))}">Change the payment details</a></p>
<form method="post" action="/pay/review/{escape(draft["id"])}/discard">
<button type="submit" class="secondary">Discard this payment</button></form>"""
    return page(f"Review payment {draft['id']}", main, nav)


def payment_page(nav: Nav, payment: dict, from_account: dict) -> str:
    rows = [
        ("Reference number", escape(payment["number"])),
        ("From", escape(account_label(from_account))),
        ("To", escape(payment["payee"])),
        ("Account number", escape(payment["to_account"])),
        ("Amount", money(payment["amount_cents"])),
        ("Reference", escape(payment["reference"])),
        ("Date", escape(payment["date"])),
        ("Recall", escape(_recall_note(payment["reversibility"] != "irreversible"))),
    ]
    message = (
        f"{money(payment['amount_cents'])} is on its way to {payment['payee']}. Reference number {payment['number']}."
    )
    main = f"""<h1>Payment sent</h1>
{_status(message)}
{details_table("Payment details", rows)}
<p><a href="/payments">Payment history</a> · <a href="/pay">Make another payment</a> ·
<a href="/">Back to your accounts</a></p>"""
    return page(f"Payment {payment['number']}", main, nav)


def payments_page(nav: Nav, payments: list[dict]) -> str:
    if not payments:
        body = "<p>You have not sent any payments from this online banking session yet.</p>"
    else:
        rows = "".join(
            f'<tr><td><a href="/payments/{escape(p["id"])}">{escape(p["number"])}</a></td><td>{escape(p["date"])}</td>'
            f"<td>{escape(p['payee'])}</td><td>{escape(p['to_account'])}</td>"
            f'<td class="num">{money(p["amount_cents"])}</td><td>{escape(p["reference"])}</td></tr>'
            for p in payments
        )
        body = f"""<table><caption>Payments sent, newest first</caption>
<thead><tr><th scope="col">Reference number</th><th scope="col">Date</th><th scope="col">Recipient</th>
<th scope="col">Account number</th><th scope="col" class="num">Sum sent</th><th scope="col">Their reference</th>
</tr></thead><tbody>{rows}</tbody></table>"""
    main = f"""<h1>Payment history</h1>{body}
<p class="hint">Older payments are listed on your account statements.</p>"""
    return page("Payment history", main, nav)


# -- transfers -----------------------------------------------------------------------------------------------


def transfer_form_page(nav: Nav, accounts: list[dict], values: dict, errors: dict) -> str:
    form = _Form(values, errors)
    options = _account_options(accounts)
    main = f"""<h1>Move money between your accounts</h1>{_error_summary(errors)}
<form class="stacked" method="post" action="/transfer" novalidate>
{form.choose("from", "From account", options)}
{form.choose("to", "To account", options)}
{form.text("amount", "Amount", "In dollars, e.g. 84.50.")}
{form.text("reference", "Reference", "Optional, up to 40 characters.")}
<p><button type="submit">Transfer</button></p>
</form>
<p class="hint">Transfers between your own accounts arrive immediately and can be reversed.</p>"""
    return page("Move money between your accounts", main, nav)


def review_transfer_page(nav: Nav, draft: dict, from_account: dict, to_account: dict, error: str = "") -> str:
    rows = [
        ("From", escape(account_label(from_account))),
        ("To", escape(account_label(to_account))),
        ("Amount", money(draft["amount_cents"])),
        ("Reference", escape(draft["reference"]) or "None"),
        ("When", "Today"),
    ]
    alert = f'<p class="alert" role="alert">{escape(error)}</p>' if error else ""
    main = f"""<h1>Review your transfer</h1>{alert}
{details_table("Transfer to make", rows)}
<form method="post" action="/transfer/review/{escape(draft["id"])}"><button type="submit">Confirm</button></form>
<p><a href="/transfer?{escape(urlencode({"draft": draft["id"]}))}">Change the transfer details</a></p>
<form method="post" action="/transfer/review/{escape(draft["id"])}/discard">
<button type="submit" class="secondary">Discard this transfer</button></form>"""
    return page(f"Review transfer {draft['id']}", main, nav)


def transfer_page(nav: Nav, transfer: dict, from_account: dict, to_account: dict) -> str:
    rows = [
        ("Reference number", escape(transfer["number"])),
        ("From", escape(account_label(from_account))),
        ("To", escape(account_label(to_account))),
        ("Amount", money(transfer["amount_cents"])),
        ("Reference", escape(transfer["reference"]) or "None"),
        ("Date", escape(transfer["date"])),
    ]
    message = f"{money(transfer['amount_cents'])} moved to {to_account['name']}. Reference number {transfer['number']}."
    main = f"""<h1>Transfer complete</h1>
{_status(message)}
{details_table("Transfer details", rows)}
<p><a href="/">Back to your accounts</a> · <a href="/transfer">Make another transfer</a></p>"""
    return page(f"Transfer {transfer['number']}", main, nav)


# -- standing orders -----------------------------------------------------------------------------------------


def standing_orders_page(nav: Nav, orders: list[dict], message: str = "") -> str:
    active = [order for order in orders if order["status"] == "active"]
    if active:
        rows = "".join(
            f'<tr><td><a href="/standing-orders/{escape(o["id"])}">{escape(o["number"])}</a></td>'
            f"<td>{escape(o['to_name'])}</td><td>{escape(o['to_account'])}</td>"
            f'<td class="num">{money(o["amount_cents"])}</td><td>Day {o["day"]} of each month</td>'
            f"<td>{escape(o['reference'])}</td>"
            f'<td><form method="post" action="/standing-orders/{escape(o["id"])}/stop">'
            f'<button type="submit" class="secondary">Stop standing order {escape(o["number"])}</button>'
            "</form></td></tr>"
            for o in active
        )
        body = f"""<table><caption>Active standing orders</caption>
<thead><tr><th scope="col">Order</th><th scope="col">To</th><th scope="col">Account number</th>
<th scope="col" class="num">Monthly sum</th><th scope="col">Schedule</th><th scope="col">Their reference</th>
<th scope="col">Stop</th></tr></thead><tbody>{rows}</tbody></table>"""
    else:
        body = "<p>You have no active standing orders.</p>"
    main = f"""<h1>Standing orders</h1>{_status(message)}
<p><a class="button" href="/standing-orders/new">Set up a standing order</a></p>
{body}"""
    return page("Standing orders", main, nav)


def standing_order_form_page(nav: Nav, accounts: list[dict], payees: list[dict], values: dict, errors: dict) -> str:
    targets = [(f"account:{a['id']}", account_label(a)) for a in accounts]
    targets += [(f"payee:{p['id']}", payee_label(p)) for p in payees]
    form = _Form(values, errors)
    main = f"""<h1>Set up a standing order</h1>{_error_summary(errors)}
<p>A standing order pays the same sum on the same day every month until you stop it.</p>
<form class="stacked" method="post" action="/standing-orders/new" novalidate>
{form.choose("from", "From account", _account_options(accounts))}
{form.choose("to", "Pay to", targets)}
{form.text("amount", "Amount", "In dollars, e.g. 84.50.")}
{form.text("day", "Day of month", "1 to 28.", kind="number")}
{form.text("reference", "Reference", "Up to 40 characters.")}
<p><button type="submit">Save</button></p>
</form>"""
    return page("Set up a standing order", main, nav)


def standing_order_page(nav: Nav, order: dict, from_account: dict) -> str:
    rows = [
        ("Order number", escape(order["number"])),
        ("From", escape(account_label(from_account))),
        ("To", escape(order["to_name"])),
        ("Account number", escape(order["to_account"])),
        ("Amount", money(order["amount_cents"])),
        ("Schedule", f"Day {order['day']} of each month"),
        ("Reference", escape(order["reference"])),
        ("Status", escape(order["status"])),
    ]
    heading = "Standing order set up" if order["status"] == "active" else "Standing order stopped"
    message = (
        f"Standing order {order['number']} will pay {money(order['amount_cents'])} on day {order['day']} of each month."
        if order["status"] == "active"
        else ""
    )
    main = f"""<h1>{heading}</h1>
{_status(message)}
{details_table("Standing order details", rows)}
<p><a href="/standing-orders">All standing orders</a> · <a href="/">Back to your accounts</a></p>"""
    return page(f"Standing order {order['number']}", main, nav)


# -- errors --------------------------------------------------------------------------------------------------


def not_found_page(nav: Nav, what: str) -> str:
    main = f'<h1>{escape(what)} not found</h1><p><a href="/">Back to your accounts</a></p>'
    return page(f"{what} not found", main, nav)
