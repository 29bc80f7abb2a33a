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
form.stacked input{width:100%;max-width:24rem;padding:.35rem;box-sizing:border-box}
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
    ("email", "Email", "email"),
    ("street", "Street address", "street-address"),
    ("city", "City", "address-level2"),
    ("postcode", "Postcode", "postal-code"),
)


@dataclass
class Nav:
    """What the page header shows: who is signed in, how full the cart is, the current search."""

    customer_name: str
    cart_count: int
    query: str = ""


def money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


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
<li><a href="/orders">Orders</a></li><li><a href="/account">Account</a></li>
</ul></nav>
<form role="search" action="/search" method="get">
<label for="q">Search products</label>
<input type="search" id="q" name="q" value="{escape(nav.query)}">
<button type="submit">Search</button>
</form>
<p class="who">Signed in as <strong>{escape(nav.customer_name)}</strong></p>
</header>
<main>
{main}
</main>
<footer><p>{SHOP_NAME} is a sandbox store. Nothing here is real.</p></footer>
</body></html>"""


def _product_list(products: list[dict]) -> str:
    items = []
    for product in products:
        stock = f"{product['stock']} in stock" if product["stock"] else "Out of stock"
        items.append(
            f'<li><h2><a href="/product/{escape(product["id"])}">{escape(product["name"])}</a></h2>'
            f'<p><span class="price">{money(product["price_cents"])}</span> · {escape(product["category"])}'
            f" · {stock}</p></li>"
        )
    return f'<ul class="products">{"".join(items)}</ul>'


def catalogue_page(nav: Nav, products: list[dict], number: int, pages: int) -> str:
    title = "Catalogue" if number == 1 else f"Catalogue, page {number} of {pages}"
    links = []
    if number > 1:
        links.append(f'<li><a href="/?page={number - 1}" rel="prev">Previous page</a></li>')
    links.append(f'<li aria-current="page">Page {number} of {pages}</li>')
    if number < pages:
        links.append(f'<li><a href="/?page={number + 1}" rel="next">Next page</a></li>')
    main = (
        f"<h1>{title}</h1>{_product_list(products)}"
        f'<nav aria-label="Pages"><ul class="pagination">{"".join(links)}</ul></nav>'
    )
    return page(title, main, nav)


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


def product_page(nav: Nav, product: dict, reviews: list[dict], error: str = "") -> str:
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
    stock = f"{product['stock']} in stock" if product["stock"] else "Out of stock"
    if reviews:
        items = "".join(
            f'<article class="review"><h3>{escape(review["author"])}</h3>'
            f'<p>Rated {review["rating"]} out of 5 <span aria-hidden="true">{_stars(review["rating"])}</span></p>'
            f"<p>{escape(review['text'])}</p></article>"
            for review in reviews
        )
    else:
        items = "<p>No reviews yet.</p>"
    main = f"""<article class="card">
<h1>{escape(product["name"])}</h1>
<p><span class="price">{money(product["price_cents"])}</span> · {escape(product["category"])}</p>
<p>{escape(product["description"])}</p>
<p>{stock}</p>
{alert}{buy}
</article>
<section aria-labelledby="reviews-heading">
<h2 id="reviews-heading">Reviews ({len(reviews)})</h2>
{items}
</section>"""
    return page(product["name"], main, nav)


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


def _field(field: str, label: str, autocomplete: str, value: str, error: str) -> str:
    described = f' aria-invalid="true" aria-describedby="{field}-error"' if error else ""
    message = f'<p class="error" id="{field}-error">{escape(error)}</p>' if error else ""
    return (
        f'<label for="{field}">{label}</label>'
        f'<input type="text" id="{field}" name="{field}" value="{escape(value)}"'
        f' autocomplete="{autocomplete}"{described}>{message}'
    )


def _error_summary(errors: dict) -> str:
    if not errors:
        return ""
    problems = "".join(f"<li>{escape(message)}</li>" for message in errors.values())
    return f'<div class="alert" role="alert"><p>Please correct the following:</p><ul>{problems}</ul></div>'


def _summary(lines: list[dict], total_cents: int) -> str:
    rows = "".join(
        f"<tr><td>{escape(line['product']['name'])}</td><td>{line['quantity']}</td>"
        f"<td>{money(line['line_cents'])}</td></tr>"
        for line in lines
    )
    return f"""<table><caption>Order summary</caption>
<thead><tr><th scope="col">Product</th><th scope="col">Quantity</th><th scope="col">Subtotal</th></tr></thead>
<tbody>{rows}</tbody>
<tfoot><tr><th scope="row" colspan="2">Total</th><td>{money(total_cents)}</td></tr></tfoot></table>"""


def checkout_page(nav: Nav, lines: list[dict], total_cents: int, values: dict, errors: dict, test_card: str) -> str:
    """The checkout form. ``errors`` maps a field (or ``"cart"``) to its message; values re-fill the form."""
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
    main = f"""<h1>Checkout</h1>{alert}
{_summary(lines, total_cents)}
<form class="stacked" method="post" action="/checkout" novalidate>
<fieldset><legend>Shipping address</legend>{shipping}</fieldset>
<fieldset><legend>Payment</legend>{payment}
<p class="hint">Test mode: pay with card number {escape(test_card)}.</p></fieldset>
<p><button type="submit">Place order</button></p>
</form>"""
    return page("Checkout", main, nav)


def _shipping(shipping: dict) -> str:
    return ", ".join(escape(shipping[key]) for key in ("name", "street", "city", "postcode"))


def order_page(nav: Nav, order: dict) -> str:
    title = f"Order #{order['id']} confirmed"
    rows = "".join(
        f"<tr><td>{escape(line['name'])}</td><td>{line['quantity']}</td>"
        f"<td>{money(line['unit_cents'] * line['quantity'])}</td></tr>"
        for line in order["lines"]
    )
    main = f"""<h1>{escape(title)}</h1>
<p role="status">Thank you! Your order has been placed.</p>
<table><caption>Items</caption>
<thead><tr><th scope="col">Product</th><th scope="col">Quantity</th><th scope="col">Subtotal</th></tr></thead>
<tbody>{rows}</tbody>
<tfoot><tr><th scope="row" colspan="2">Total</th><td>{money(order["total_cents"])}</td></tr></tfoot></table>
<h2>Delivery address</h2><p>{_shipping(order["shipping"])}</p>
<p>Paid with the card ending in {escape(order["card_last4"])}.</p>
<p><a href="/orders">All orders</a> · <a href="/">Continue shopping</a></p>"""
    return page(title, main, nav)


def _items(order: dict) -> str:
    return ", ".join(f"{line['quantity']} × {line['name']}" for line in order["lines"])


def orders_page(nav: Nav, orders: list[dict]) -> str:
    if not orders:
        return page("Your orders", "<h1>Your orders</h1><p>You have not placed any orders yet.</p>", nav)
    rows = "".join(
        f'<tr><td><a href="/orders/{escape(order["id"])}">Order #{escape(order["id"])}</a></td>'
        f"<td>{escape(_items(order))}</td>"
        f"<td>{money(order['total_cents'])}</td><td>{_shipping(order['shipping'])}</td></tr>"
        for order in orders
    )
    main = f"""<h1>Your orders</h1>
<table><caption>Orders, newest first</caption>
<thead><tr><th scope="col">Order</th><th scope="col">Items</th><th scope="col">Total</th>
<th scope="col">Delivery address</th></tr></thead>
<tbody>{rows}</tbody></table>"""
    return page("Your orders", main, nav)


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
<p><button type="submit">Save changes</button></p>
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
