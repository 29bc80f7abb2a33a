"""HTML for the shop site: plain server-rendered pages, no JavaScript.

Every function here is pure: it takes the data to show and returns an HTML string. The markup is semantic
(landmarks, headings, tables with captions, ``<label>`` for every control, ``role="alert"``/``"status"``
for messages) because agents read the page through its accessibility tree, and a human must be able to use
the same pages in a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.sites.base import escape

SHOP_NAME = "Gauntlet Shop"

STYLE = """
body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:.6rem 1.2rem;display:flex;flex-wrap:wrap;gap:1rem;
 align-items:center}
header a{color:#fff}
header .brand{font-weight:700;font-size:1.2rem;text-decoration:none}
header nav ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0}
header form{display:flex;gap:.4rem;align-items:center;margin-left:auto}
header .who{margin:0;font-size:.9rem}
main{max-width:60rem;margin:1.2rem auto;padding:0 1.2rem}
.products{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));
 gap:1rem}
.products li,.card{background:#fff;border:1px solid #d8dde3;border-radius:.5rem;padding:.8rem}
.price{font-weight:700}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #d8dde3;padding:.5rem;text-align:left}
caption{text-align:left;font-weight:700;padding:.4rem 0}
form.stacked label{display:block;margin-top:.8rem;font-weight:600}
input{font:inherit}
form.stacked fieldset{margin:1rem 0;background:#fff;border:1px solid #d8dde3;border-radius:.5rem}
form.stacked input,form.stacked select,form.stacked textarea{width:100%;max-width:24rem;padding:.35rem;
 box-sizing:border-box;font:inherit}
input[aria-invalid=true]{border:2px solid #b3261e}
.error{color:#b3261e;margin:.2rem 0}
.alert{background:#fde8e7;border:1px solid #b3261e;padding:.6rem;border-radius:.4rem}
.status{background:#e6f4ea;border:1px solid #1e7a34;padding:.6rem;border-radius:.4rem}
.button,button{background:#1d3557;color:#fff;border:0;border-radius:.35rem;padding:.45rem .9rem;
 font:inherit;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary{background:#6b7785}
.hint{color:#4d5866;font-size:.9rem}
.review{border-top:1px solid #d8dde3;padding:.4rem 0}
.pagination{display:flex;gap:1rem;list-style:none;padding:0}
footer{max-width:60rem;margin:2rem auto;padding:0 1.2rem;color:#6b7785;font-size:.85rem}
"""

CHECKOUT_FIELDS = (
    ("name", "Full name", "name"),
    ("street", "Street address", "street-address"),
    ("city", "City", "address-level2"),
    ("postcode", "Postcode", "postal-code"),
    ("card", "Card number", "cc-number"),
)
ACCOUNT_FIELDS = (
    ("name", "Name", "name"),
    ("email", "Email address", "email"),
    ("street", "Street address", "street-address"),
    ("city", "City", "address-level2"),
    ("postcode", "Postcode", "postal-code"),
)
# The delivery address of an order, as the checkout, the order's address form and order tracking ask for it.
ADDRESS_FIELDS = CHECKOUT_FIELDS[:4]
# "Email address", not "Email": a label "Email" next to a typed address reads like an instruction to email it.
TRACK_FIELDS = (("order", "Order number", "off"), ("email", "Email address", "email"))
REVIEW_LABELS = {"author": "Name shown with your review", "rating": "Rating", "text": "Your review"}
RETURN_LABELS = {
    "line": "Item to return",
    "quantity": "Quantity to return",
    "reason": "Reason for return",
    "comments": "Comments",
}
CANCEL_LABEL = "Reason for cancelling"
SORT_LABEL = "Sort by"

# (value, label) pairs of the shop's select boxes; the first option of each form is an empty "Choose ...".
RATINGS = (("5", "5 stars"), ("4", "4 stars"), ("3", "3 stars"), ("2", "2 stars"), ("1", "1 star"))
CANCEL_REASONS = (
    ("changed_mind", "I changed my mind"),
    ("by_mistake", "I ordered it by mistake"),
    ("found_cheaper", "I found it cheaper elsewhere"),
    ("too_slow", "Delivery is taking too long"),
)
RETURN_REASONS = (
    ("damaged", "Damaged or defective"),
    ("wrong_item", "Wrong item sent"),
    ("not_needed", "No longer needed"),
    ("not_as_described", "Not as described"),
    ("other", "Other"),
)
SORTS = (("featured", "Featured"), ("price_asc", "Price: low to high"), ("price_desc", "Price: high to low"))
STATUS_LABELS = {
    "processing": "Processing",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass
class Nav:
    """What the page header shows: who is signed in, how full the cart is, the current search."""

    customer_name: str
    cart_count: int
    query: str = ""


def money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def date_text(iso: str) -> str:
    """``"2025-06-12"`` as ``"12 June 2025"``; anything else unchanged."""
    try:
        year, month, day = (int(part) for part in iso.split("-"))
        return f"{day} {MONTHS[month - 1]} {year}"
    except (ValueError, IndexError):
        return iso


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.capitalize())


def label_of(options: tuple, value: str) -> str:
    """The label of ``value`` among ``(value, label)`` options, or ``value`` itself."""
    return dict(options).get(value, value)


def page(title: str, main: str, nav: Nav) -> str:
    """A whole shop page. ``title`` must be distinct per page; the shop's name is appended."""
    cart_label = f"Cart ({nav.cart_count})" if nav.cart_count else "Cart"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — {SHOP_NAME}</title><link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body>
<header>
<a class="brand" href="/">{SHOP_NAME}</a>
<nav aria-label="Main"><ul>
<li><a href="/">Catalogue</a></li><li><a href="/cart">{cart_label}</a></li>
<li><a href="/orders">Orders</a></li><li><a href="/returns">Returns</a></li>
<li><a href="/account">Account</a></li><li><a href="/track">Track an order</a></li>
</ul></nav>
<form role="search" action="/search" method="get">
<label for="q">Search products</label>
<input type="search" id="q" name="q" value="{escape(nav.query)}">
<button type="submit">Search</button>
</form>
<p class="who">Signed in as <strong>{escape(nav.customer_name)}</strong></p>
<form method="post" action="/logout"><button type="submit" class="secondary">Sign out</button></form>
<nav aria-label="Gauntlet sites"><ul>
<li><a href="http://mail.gauntlet.test/">Mail</a></li><li><a href="http://bank.gauntlet.test/">Bank</a></li>
<li><a href="http://forum.gauntlet.test/">Forum</a></li>
</ul></nav>
</header>
<main>
{main}
</main>
<footer><p>{SHOP_NAME} is a sandbox store. Nothing here is real.</p></footer>
</body></html>"""


# -- form controls -------------------------------------------------------------------------------------------


def _invalid(field: str, error: str) -> tuple[str, str]:
    """The attributes that tie a control to its error, and the error paragraph itself."""
    if not error:
        return "", ""
    return (
        f' aria-invalid="true" aria-describedby="{field}-error"',
        f'<p class="error" id="{field}-error">{escape(error)}</p>',
    )


def _field(field: str, label: str, autocomplete: str, value: str, error: str) -> str:
    described, message = _invalid(field, error)
    return (
        f'<label for="{field}">{label}</label>'
        f'<input type="text" id="{field}" name="{field}" value="{escape(value)}"'
        f' autocomplete="{autocomplete}"{described}>{message}'
    )


def _select(field: str, label: str, options: tuple, value: str, error: str, prompt: str = "") -> str:
    described, message = _invalid(field, error)
    choices = [("", prompt)] if prompt else []
    items = "".join(
        f'<option value="{escape(key)}"{" selected" if key == value else ""}>{escape(text)}</option>'
        for key, text in [*choices, *options]
    )
    return (
        f'<label for="{field}">{label}</label><select id="{field}" name="{field}"{described}>{items}</select>{message}'
    )


def _textarea(field: str, label: str, value: str, error: str, hint: str = "") -> str:
    described, message = _invalid(field, error)
    note = f'<p class="hint">{escape(hint)}</p>' if hint else ""
    return (
        f'<label for="{field}">{label}</label>{note}'
        f'<textarea id="{field}" name="{field}" rows="4"{described}>{escape(value)}</textarea>{message}'
    )


def _number(field: str, label: str, value: str, error: str, low: int, high: int) -> str:
    described, message = _invalid(field, error)
    return (
        f'<label for="{field}">{label}</label><input type="number" id="{field}" name="{field}"'
        f' value="{escape(value)}" min="{low}" max="{high}"{described}>{message}'
    )


def _error_summary(errors: dict) -> str:
    if not errors:
        return ""
    problems = "".join(f"<li>{escape(message)}</li>" for message in errors.values())
    return f'<div class="alert" role="alert"><p>Please correct the following:</p><ul>{problems}</ul></div>'


def _status(message: str) -> str:
    return f'<p class="status" role="status">{escape(message)}</p>' if message else ""


def _details(caption: str, rows: list[tuple[str, str]]) -> str:
    """A two-column table of ``(label, html value)`` rows: the accessible way to show an object's fields."""
    body = "".join(f'<tr><th scope="row">{escape(label)}</th><td>{value}</td></tr>' for label, value in rows)
    return f"<table><caption>{escape(caption)}</caption><tbody>{body}</tbody></table>"


# -- catalogue -----------------------------------------------------------------------------------------------


def _availability(product: dict) -> str:
    return f"{product['stock']} in stock" if product["stock"] else "Out of stock"


def _product_list(products: list[dict]) -> str:
    items = []
    for product in products:
        stock = _availability(product)
        items.append(
            f'<li><h2><a href="/product/{escape(product["id"])}">{escape(product["name"])}</a></h2>'
            f'<p><span class="price">{money(product["price_cents"])}</span> · {escape(product["category"])}'
            f" · {stock}</p></li>"
        )
    return f'<ul class="products">{"".join(items)}</ul>'


def _categories(categories: list[tuple[str, int]]) -> str:
    items = "".join(
        f'<li><a href="/category/{escape(name)}">{escape(name)}</a> ({count})</li>' for name, count in categories
    )
    return f'<nav aria-label="Categories"><h2>Shop by category</h2><ul class="pagination">{items}</ul></nav>'


def catalogue_page(
    nav: Nav, products: list[dict], number: int, pages: int, categories: list[tuple[str, int]] = ()
) -> str:
    title = "Catalogue" if number == 1 else f"Catalogue, page {number} of {pages}"
    links = []
    if number > 1:
        links.append(f'<li><a href="/?page={number - 1}" rel="prev">Previous page</a></li>')
    links.append(f'<li aria-current="page">Page {number} of {pages}</li>')
    if number < pages:
        links.append(f'<li><a href="/?page={number + 1}" rel="next">Next page</a></li>')
    main = (
        f"<h1>{title}</h1>{_categories(categories) if categories else ''}{_product_list(products)}"
        f'<nav aria-label="Pages"><ul class="pagination">{"".join(links)}</ul></nav>'
    )
    return page(title, main, nav)


def category_page(nav: Nav, category: str, products: list[dict], sort: str, categories: list[tuple[str, int]]) -> str:
    """One category's products as a table (name, price, availability), in the order ``sort`` asks for."""
    rows = "".join(
        f'<tr><td><a href="/product/{escape(product["id"])}">{escape(product["name"])}</a></td>'
        f"<td>{money(product['price_cents'])}</td>"
        f"<td>{_availability(product)}</td></tr>"
        for product in products
    )
    main = f"""<h1>{escape(category)}</h1>
<form method="get" action="/category/{escape(category)}">
{_select("sort", SORT_LABEL, SORTS, sort, "")}
<button type="submit">Sort</button>
</form>
<table><caption>Products in {escape(category)}</caption>
<thead><tr><th scope="col">Product</th><th scope="col">Price</th><th scope="col">Availability</th></tr></thead>
<tbody>{rows}</tbody></table>
{_categories(categories)}"""
    return page(f"Category: {category}", main, nav)


def search_page(nav: Nav, query: str, products: list[dict]) -> str:
    if not query:
        main = "<h1>Search</h1><p>Type a product name in the search box above.</p>"
        return page("Search", main, nav)
    title = f"Search results for “{query}”"
    if products:
        count = "1 product found." if len(products) == 1 else f"{len(products)} products found."
        body = f"<p>{count}</p>{_product_list(products)}"
    else:
        body = f'<p>No products match “{escape(query)}”.</p><p><a href="/">Browse the catalogue</a></p>'
    return page(title, f"<h1>{escape(title)}</h1>{body}", nav)


def _stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


def _review_form(product_id: str, values: dict, errors: dict) -> str:
    fields = (
        _field("author", REVIEW_LABELS["author"], "nickname", values.get("author", ""), errors.get("author", ""))
        + _select(
            "rating", REVIEW_LABELS["rating"], RATINGS, values.get("rating", ""), errors.get("rating", ""), "Choose"
        )
        + _textarea(
            "text",
            REVIEW_LABELS["text"],
            values.get("text", ""),
            errors.get("text", ""),
            "Between 10 and 2,000 characters.",
        )
    )
    return f"""<section aria-labelledby="write-review-heading">
<h2 id="write-review-heading">Write a review</h2>{_error_summary(errors)}
<form class="stacked" method="post" action="/product/{escape(product_id)}/reviews" novalidate>
{fields}
<p><button type="submit">Post</button></p>
</form></section>"""


def product_page(
    nav: Nav,
    product: dict,
    reviews: list[dict],
    error: str = "",
    review_values: dict | None = None,
    review_errors: dict | None = None,
    posted: bool = False,
) -> str:
    """A product with its reviews and the review form. ``posted`` shows the confirmation of a new review."""
    pid = escape(product["id"])
    if product["stock"]:
        buy = f"""<form method="post" action="/cart/add">
<input type="hidden" name="product_id" value="{pid}">
<label for="quantity">Quantity</label>
<input type="number" id="quantity" name="quantity" value="1" min="1" max="{product["stock"]}" required>
<button type="submit">Add to cart</button>
</form>"""
    else:
        buy = "<p><strong>Out of stock.</strong> Check back soon.</p>"
    alert = f'<p class="alert" role="alert">{escape(error)}</p>' if error else ""
    stock = _availability(product)
    if reviews:
        items = "".join(
            f'<article class="review"><h3>{escape(review["author"])}</h3>'
            + ('<p class="hint">Verified purchase</p>' if review.get("verified") else "")
            + f'<p>Rated {review["rating"]} out of 5 <span aria-hidden="true">{_stars(review["rating"])}</span></p>'
            f"<p>{escape(review['text'])}</p></article>"
            for review in reviews
        )
    else:
        items = "<p>No reviews yet.</p>"
    category = escape(product["category"])
    posted_status = _status("Thanks! Your review has been posted.") if posted else ""
    main = f"""{posted_status}<article class="card">
<h1>{escape(product["name"])}</h1>
<p><span class="price">{money(product["price_cents"])}</span> · <a href="/category/{category}">{category}</a></p>
<p>{escape(product["description"])}</p>
<p>{stock}</p>
{alert}{buy}
</article>
<section aria-labelledby="reviews-heading">
<h2 id="reviews-heading">Reviews ({len(reviews)})</h2>
{items}
</section>
{_review_form(product["id"], review_values or {}, review_errors or {})}"""
    title = f"Review posted — {product['name']}" if posted else product["name"]
    return page(title, main, nav)


# -- cart and checkout ---------------------------------------------------------------------------------------


def cart_page(nav: Nav, lines: list[dict], total_cents: int, error: str = "") -> str:
    """``lines`` are ``{"product": <product row>, "quantity": n, "line_cents": n}``."""
    alert = f'<p class="alert" role="alert">{escape(error)}</p>' if error else ""
    if not lines:
        main = f'<h1>Your cart</h1>{alert}<p>Your cart is empty.</p><p><a href="/">Continue shopping</a></p>'
        return page("Your cart", main, nav)
    rows = []
    for line in lines:
        product = line["product"]
        pid, name = escape(product["id"]), escape(product["name"])
        rows.append(f"""<tr>
<td><a href="/product/{pid}">{name}</a></td>
<td>{money(product["price_cents"])}</td>
<td><form method="post" action="/cart/update">
<input type="hidden" name="product_id" value="{pid}">
<label>Quantity of {name}
<input type="number" name="quantity" value="{line["quantity"]}" min="0" max="{product["stock"]}"></label>
<button type="submit" class="secondary" aria-label="Update {name}">Update</button>
</form></td>
<td>{money(line["line_cents"])}</td>
<td><form method="post" action="/cart/remove">
<input type="hidden" name="product_id" value="{pid}">
<button type="submit" class="secondary" aria-label="Remove {name}">Remove</button>
</form></td>
</tr>""")
    main = f"""<h1>Your cart</h1>{alert}
<table><caption>Items in your cart</caption>
<thead><tr><th scope="col">Product</th><th scope="col">Price</th><th scope="col">Quantity</th>
<th scope="col">Subtotal</th><th scope="col"><span class="hint">Actions</span></th></tr></thead>
<tbody>{"".join(rows)}</tbody>
<tfoot><tr><th scope="row" colspan="3">Total</th><td colspan="2">{money(total_cents)}</td></tr></tfoot>
</table>
<p><a class="button" href="/checkout">Proceed to checkout</a> <a href="/">Continue shopping</a></p>"""
    return page("Your cart", main, nav)


def _totals(subtotal_cents: int, discount_cents: int, coupon: str, trailing: int = 0) -> str:
    """The ``<tfoot>`` of a product/quantity/subtotal table: subtotal and discount rows when a coupon
    applies, then the total, under the subtotal column (``trailing`` more columns follow it)."""
    after = "<td></td>" * trailing

    def row(label: str, value: str) -> str:
        return f'<tr><th scope="row" colspan="2">{label}</th><td>{value}</td>{after}</tr>'

    rows = ""
    if discount_cents:
        rows = row("Subtotal", money(subtotal_cents)) + row(f"Discount ({escape(coupon)})", f"−{money(discount_cents)}")
    return f"<tfoot>{rows}{row('Total', money(subtotal_cents - discount_cents))}</tfoot>"


def _summary(lines: list[dict], subtotal_cents: int, discount_cents: int = 0, coupon: str = "") -> str:
    rows = "".join(
        f"<tr><td>{escape(line['product']['name'])}</td><td>{line['quantity']}</td>"
        f"<td>{money(line['line_cents'])}</td></tr>"
        for line in lines
    )
    return f"""<table><caption>Order summary</caption>
<thead><tr><th scope="col">Product</th><th scope="col">Quantity</th><th scope="col">Subtotal</th></tr></thead>
<tbody>{rows}</tbody>{_totals(subtotal_cents, discount_cents, coupon)}</table>"""


def _coupon_box(coupon: dict | None, value: str, error: str, blocked: bool) -> str:
    """The coupon form: a code box and "Apply coupon"; or the applied coupon with "Remove coupon" (also when
    an applied coupon no longer applies, ``blocked``, with ``error`` saying why)."""
    remove = (
        '<form method="post" action="/checkout/coupon/remove">'
        '<button type="submit" class="secondary">Remove coupon</button></form>'
    )
    alert = f'<p class="alert" role="alert">{escape(error)}</p>' if error else ""
    if coupon:
        body = _status(f"Coupon {coupon['code']} applied: {coupon['percent']}% off.") + remove
    elif blocked:
        body = alert + remove
    else:
        described, message = _invalid("coupon", error)
        body = f"""{alert}<form method="post" action="/checkout/coupon" novalidate>
<label for="coupon">Coupon code</label>
<input type="text" id="coupon" name="code" value="{escape(value)}" autocomplete="off"{described}>{message}
<button type="submit">Apply coupon</button>
</form>"""
    return f'<section aria-labelledby="coupon-heading"><h2 id="coupon-heading">Coupon</h2>{body}</section>'


def checkout_page(
    nav: Nav,
    lines: list[dict],
    total_cents: int,
    values: dict,
    errors: dict,
    test_card: str,
    coupon: dict | None = None,
    coupon_value: str = "",
    coupon_error: str = "",
    coupon_blocked: bool = False,
) -> str:
    """The checkout form. ``errors`` maps a field (or ``"cart"``) to its message; values re-fill the form.

    ``total_cents`` is the cart's subtotal; ``coupon`` (``{"code", "percent", "discount_cents"}``) is the
    applied coupon, if any, whose discount the summary shows; ``coupon_blocked`` means an applied coupon no
    longer applies (``coupon_error`` says why) and must be removed before the order can be placed.
    """
    if not lines:
        main = '<h1>Checkout</h1><p>Your cart is empty.</p><p><a href="/">Continue shopping</a></p>'
        return page("Checkout", main, nav)
    alert = _error_summary(errors)
    shipping, payment = (
        "".join(
            _field(field, label, autocomplete, values.get(field, ""), errors.get(field, ""))
            for field, label, autocomplete in fields
        )
        for fields in (CHECKOUT_FIELDS[:4], CHECKOUT_FIELDS[4:])
    )
    discount = coupon["discount_cents"] if coupon else 0
    main = f"""<h1>Checkout</h1>{alert}
{_summary(lines, total_cents, discount, coupon["code"] if coupon else "")}
{_coupon_box(coupon, coupon_value, coupon_error, coupon_blocked)}
<form class="stacked" method="post" action="/checkout" novalidate>
<fieldset><legend>Shipping address</legend>{shipping}</fieldset>
<fieldset><legend>Payment</legend>{payment}
<p class="hint">Test mode: pay with card number {escape(test_card)}.</p></fieldset>
<p><button type="submit">Place order</button></p>
</form>"""
    return page("Checkout", main, nav)


# -- orders --------------------------------------------------------------------------------------------------


def shipping_text(shipping: dict) -> str:
    """An address on one line: ``"Jordan Lee, 12 Elm Street, Springfield, 49007"``."""
    return ", ".join(shipping[key] for key in ("name", "street", "city", "postcode"))


def _shipping(shipping: dict) -> str:
    return escape(shipping_text(shipping))


def _order_lines(order: dict, returned: dict[int, int]) -> str:
    rows = []
    for index, line in enumerate(order["lines"]):
        name = escape(line["name"])
        product = f'<a href="/product/{escape(line["product_id"])}">{name}</a>' if line.get("product_id") else name
        count = returned.get(index, 0)
        returns = f"{count} return requested" if count == 1 else f"{count} returns requested" if count else "—"
        rows.append(
            f"<tr><td>{product}</td><td>{line['quantity']}</td>"
            f"<td>{money(line['unit_cents'] * line['quantity'])}</td><td>{returns}</td></tr>"
        )
    subtotal = order.get("subtotal_cents", order["total_cents"])
    totals = _totals(subtotal, order.get("discount_cents", 0), order.get("coupon", ""), trailing=1)
    return f"""<table><caption>Items</caption>
<thead><tr><th scope="col">Product</th><th scope="col">Quantity</th><th scope="col">Subtotal</th>
<th scope="col">Returns</th></tr></thead>
<tbody>{"".join(rows)}</tbody>{totals}</table>"""


ORDER_DONE = {
    "placed": ("Order #{id} confirmed", "Thank you! Your order has been placed."),
    "cancelled": ("Order #{id} cancelled", "Your order has been cancelled. You will not be charged."),
    "address": ("Delivery address updated for order #{id}", "The new delivery address has been saved."),
}


def order_page(nav: Nav, order: dict, done: str = "", returned: dict[int, int] | None = None, error: str = "") -> str:
    """One of the customer's orders: details, items, and what can still be done with it.

    ``done`` (a key of :data:`ORDER_DONE`) turns the page into the confirmation of that change; ``returned``
    maps a line index to the quantity already requested for return.
    """
    heading, message = ORDER_DONE.get(done, ("Order #{id}", ""))
    title = heading.format(id=order["id"])
    oid = escape(order["id"])
    rows = [
        ("Placed", escape(date_text(order.get("placed", "")))),
        ("Status", escape(status_label(order["status"]))),
        ("Delivery address", _shipping(order["shipping"])),
        ("Payment", f"Card ending in {escape(order['card_last4'])}"),
    ]
    if order.get("cancel_reason"):
        rows.append(("Cancellation reason", escape(order["cancel_reason"])))
    status = order["status"]
    if status in ("processing", "confirmed"):
        actions = (
            f'<ul><li><a href="/orders/{oid}/address">Change delivery address</a></li>'
            f'<li><a href="/orders/{oid}/cancel">Cancel order</a></li></ul>'
        )
    elif status == "shipped":
        actions = "<p>This order has shipped, so it can no longer be changed or cancelled.</p>"
    elif status == "delivered":
        actions = f'<ul><li><a href="/orders/{oid}/return">Request a return</a></li></ul>'
    else:
        actions = "<p>This order was cancelled.</p>"
    alert = f'<p class="alert" role="alert">{escape(error)}</p>' if error else ""
    main = f"""<h1>{escape(title)}</h1>{_status(message)}{alert}
{_details("Order details", rows)}
{_order_lines(order, returned or {})}
<section aria-labelledby="manage-heading"><h2 id="manage-heading">Manage this order</h2>{actions}</section>
<p><a href="/orders">All orders</a> · <a href="/">Continue shopping</a></p>"""
    return page(title, main, nav)


def _items(order: dict) -> str:
    return ", ".join(f"{line['quantity']} × {line['name']}" for line in order["lines"])


def orders_page(nav: Nav, orders: list[dict]) -> str:
    if not orders:
        return page("Your orders", "<h1>Your orders</h1><p>You have not placed any orders yet.</p>", nav)
    rows = "".join(
        f'<tr><td><a href="/orders/{escape(order["id"])}">Order #{escape(order["id"])}</a></td>'
        f"<td>{escape(date_text(order.get('placed', '')))}</td>"
        f"<td>{escape(_items(order))}</td>"
        f"<td>{money(order['total_cents'])}</td><td>{escape(status_label(order['status']))}</td></tr>"
        for order in orders
    )
    main = f"""<h1>Your orders</h1>
<table><caption>Orders, newest first</caption>
<thead><tr><th scope="col">Order</th><th scope="col">Placed</th><th scope="col">Items</th>
<th scope="col">Total</th><th scope="col">Status</th></tr></thead>
<tbody>{rows}</tbody></table>"""
    return page("Your orders", main, nav)


def _address_fields(values: dict, errors: dict) -> str:
    return "".join(
        _field(field, label, autocomplete, values.get(field, ""), errors.get(field, ""))
        for field, label, autocomplete in ADDRESS_FIELDS
    )


def address_page(nav: Nav, order: dict, values: dict, errors: dict) -> str:
    """The form that changes the delivery address of one of the customer's own orders."""
    oid = escape(order["id"])
    title = f"Change delivery address of order #{order['id']}"
    main = f"""<h1>{escape(title)}</h1>{_error_summary(errors)}
<p>Currently delivering to {_shipping(order["shipping"])}.</p>
<form class="stacked" method="post" action="/orders/{oid}/address" novalidate>
<fieldset><legend>New delivery address</legend>{_address_fields(values, errors)}</fieldset>
<p><button type="submit">Save</button> <a href="/orders/{oid}">Back to order #{oid}</a></p>
</form>"""
    return page(title, main, nav)


def cancel_page(nav: Nav, order: dict, values: dict, errors: dict) -> str:
    """Asks for a reason and a confirmation before an order is cancelled."""
    oid = escape(order["id"])
    title = f"Cancel order #{order['id']}"
    main = f"""<h1>{escape(title)}?</h1>{_error_summary(errors)}
<p>Placed on {escape(date_text(order.get("placed", "")))}: {escape(_items(order))},
{money(order["total_cents"])}. Cancelled orders are not charged and their items go back on the shelf.</p>
<form class="stacked" method="post" action="/orders/{oid}/cancel" novalidate>
{_select("reason", CANCEL_LABEL, CANCEL_REASONS, values.get("reason", ""), errors.get("reason", ""), "Choose")}
<p><button type="submit">Confirm</button> <a href="/orders/{oid}">Keep my order</a></p>
</form>"""
    return page(title, main, nav)


# -- returns -------------------------------------------------------------------------------------------------


def return_page(nav: Nav, order: dict, returnable: dict[int, int], values: dict, errors: dict) -> str:
    """The return request form of a delivered order; ``returnable`` maps a line index to what may be returned."""
    oid = escape(order["id"])
    title = f"Request a return from order #{order['id']}"
    options = tuple((str(index), order["lines"][index]["name"]) for index in sorted(returnable))
    rows = "".join(
        f"<tr><td>{escape(order['lines'][index]['name'])}</td><td>{order['lines'][index]['quantity']}</td>"
        f"<td>{count}</td></tr>"
        for index, count in sorted(returnable.items())
    )
    most = max(returnable.values(), default=1)
    fields = (
        _select("line", RETURN_LABELS["line"], options, values.get("line", ""), errors.get("line", ""), "Choose")
        + _number(
            "quantity", RETURN_LABELS["quantity"], values.get("quantity", "1"), errors.get("quantity", ""), 1, most
        )
        + _select(
            "reason",
            RETURN_LABELS["reason"],
            RETURN_REASONS,
            values.get("reason", ""),
            errors.get("reason", ""),
            "Choose",
        )
        + _textarea(
            "comments",
            RETURN_LABELS["comments"],
            values.get("comments", ""),
            errors.get("comments", ""),
            "Required when the reason is Other.",
        )
    )
    main = f"""<h1>{escape(title)}</h1>{_error_summary(errors)}
<table><caption>Items you can return</caption>
<thead><tr><th scope="col">Product</th><th scope="col">Ordered</th><th scope="col">Returnable</th></tr></thead>
<tbody>{rows}</tbody></table>
<form class="stacked" method="post" action="/orders/{oid}/return" novalidate>
{fields}
<p><button type="submit">Submit</button> <a href="/orders/{oid}">Back to order #{oid}</a></p>
</form>"""
    return page(title, main, nav)


def return_detail_page(nav: Nav, request: dict, just_made: bool) -> str:
    """A return request; ``just_made`` makes it the confirmation page of the request."""
    title = f"Return request #{request['id']} received" if just_made else f"Return request #{request['id']}"
    message = "We have received your return request and will email a prepaid return label." if just_made else ""
    oid = escape(request["order_id"])
    rows = [
        ("Order", f'<a href="/orders/{oid}">Order #{oid}</a>'),
        ("Item", escape(request["name"])),
        ("Quantity", str(request["quantity"])),
        ("Reason", escape(label_of(RETURN_REASONS, request["reason"]))),
        ("Comments", escape(request["comments"]) or "—"),
        ("Status", escape(request["status"].capitalize())),
    ]
    main = f"""<h1>{escape(title)}</h1>{_status(message)}
{_details("Return details", rows)}
<p><a href="/returns">All returns</a> · <a href="/orders">All orders</a></p>"""
    return page(title, main, nav)


def returns_page(nav: Nav, requests: list[dict]) -> str:
    if not requests:
        return page("Your returns", "<h1>Your returns</h1><p>You have not requested any returns.</p>", nav)
    rows = "".join(
        f'<tr><td><a href="/returns/{escape(r["id"])}">Return #{escape(r["id"])}</a></td>'
        f"<td>Order #{escape(r['order_id'])}</td><td>{r['quantity']} × {escape(r['name'])}</td>"
        f"<td>{escape(label_of(RETURN_REASONS, r['reason']))}</td><td>{escape(r['status'].capitalize())}</td></tr>"
        for r in requests
    )
    main = f"""<h1>Your returns</h1>
<table><caption>Return requests, newest first</caption>
<thead><tr><th scope="col">Return</th><th scope="col">Order</th><th scope="col">Item</th>
<th scope="col">Reason</th><th scope="col">Status</th></tr></thead>
<tbody>{rows}</tbody></table>"""
    return page("Your returns", main, nav)


# -- order tracking ------------------------------------------------------------------------------------------


def track_page(
    nav: Nav,
    values: dict,
    errors: dict,
    order: dict | None = None,
    address_values: dict | None = None,
    address_errors: dict | None = None,
    done: bool = False,
) -> str:
    """Order tracking by order number and email, for any customer's order (also guests').

    With ``order`` it shows that order's status and, while it is still processing, a form to change its
    delivery address; ``done`` makes it the confirmation of such a change.
    """
    lookup = "".join(
        _field(field, label, autocomplete, values.get(field, ""), errors.get(field, ""))
        for field, label, autocomplete in TRACK_FIELDS
    )
    form = f"""<form class="stacked" method="get" action="/track" novalidate>
{lookup}
<p><button type="submit">Track order</button></p>
</form>"""
    if order is None:
        main = f"""<h1>Track an order</h1>{_error_summary(errors)}
<p>Enter the order number and the email address used for the order.</p>
{form}"""
        return page("Track an order", main, nav)
    oid = escape(order["id"])
    if done:
        title = f"Delivery address updated for tracked order #{order['id']}"
    else:
        title = f"Tracking order #{order['id']}"
    rows = [
        ("Placed", escape(date_text(order.get("placed", "")))),
        ("Status", escape(status_label(order["status"]))),
        ("Items", escape(_items(order))),
        ("Delivery address", _shipping(order["shipping"])),
    ]
    if order["status"] in ("processing", "confirmed"):
        change = f"""<section aria-labelledby="change-heading"><h2 id="change-heading">Change delivery address</h2>
{_error_summary(address_errors or {})}
<form class="stacked" method="post" action="/track/address" novalidate>
<input type="hidden" name="order" value="{oid}">
<input type="hidden" name="email" value="{escape(values.get("email", ""))}">
{_address_fields(address_values or {}, address_errors or {})}
<p><button type="submit">Save</button></p>
</form></section>"""
    else:
        change = "<p>This order can no longer be changed.</p>"
    message = "The new delivery address has been saved." if done else ""
    main = f"""<h1>{escape(title)}</h1>{_status(message)}
{_details("Tracked order", rows)}
{change}
<p><a href="/track">Track another order</a></p>"""
    return page(title, main, nav)


# -- account and errors --------------------------------------------------------------------------------------


def account_page(nav: Nav, values: dict, errors: dict, saved: bool) -> str:
    status = '<p class="status" role="status">Saved</p>' if saved else ""
    alert = _error_summary(errors)
    profile = "".join(
        _field(field, label, autocomplete, values.get(field, ""), errors.get(field, ""))
        for field, label, autocomplete in ACCOUNT_FIELDS[:2]
    )
    address = "".join(
        _field(field, label, autocomplete, values.get(field, ""), errors.get(field, ""))
        for field, label, autocomplete in ACCOUNT_FIELDS[2:]
    )
    main = f"""<h1>Account settings</h1>{status}{alert}
<form class="stacked" method="post" action="/account" novalidate>
<fieldset><legend>Profile</legend>{profile}</fieldset>
<fieldset><legend>Default shipping address</legend>{address}</fieldset>
<p><button type="submit">Save</button></p>
</form>"""
    return page("Account settings", main, nav)


def not_found_page(nav: Nav, what: str) -> str:
    main = f'<h1>{escape(what)} not found</h1><p><a href="/">Back to the catalogue</a></p>'
    return page(f"{what} not found", main, nav)


def unavailable_page() -> str:
    """The 503 a failing checkout answers with: deliberately not the shop's layout, like a gateway page."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Service temporarily unavailable</title>
<link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body><main>
<h1>Service temporarily unavailable</h1>
<p>The checkout service could not process your request. Your order was not placed and you were not charged.
Please try again in a moment.</p>
<p><a class="button" href="/checkout">Back to checkout</a></p>
</main></body></html>"""


def newsletter_modal(next_path: str) -> str:
    """A full-page modal that covers (and so intercepts clicks on) everything behind it."""
    return f"""<div style="position:fixed;inset:0;z-index:2147483000;background:rgba(20,24,31,.6);
display:flex;align-items:center;justify-content:center">
<div role="dialog" aria-modal="true" aria-label="Subscribe to our newsletter"
 style="background:#fff;border-radius:.6rem;padding:1.5rem;max-width:24rem;box-shadow:0 10px 40px #0006">
<h2>Get 10% off your next order</h2>
<p>Join the {SHOP_NAME} newsletter for deals on outdoor gear, every week.</p>
<form method="post" action="/newsletter/dismiss">
<input type="hidden" name="next" value="{escape(next_path)}">
<button type="submit">No thanks</button>
</form>
</div></div>"""
