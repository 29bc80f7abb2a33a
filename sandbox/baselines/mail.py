"""How the built-in baselines work the mail tasks (:mod:`sandbox.sites.mail`): one solution per task."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qs, urlsplit

from sandbox import persona
from sandbox.baselines.common import (
    Solution,
    click,
    fill,
    find,
    find_all,
    goto,
    handle_interruptions,
    page_texts,
    press,
    report_infeasible,
    stop,
    value_of,
)
from sandbox.sites.mail import HOME, HOST, forward_subject, parse_recipients, reply_subject

_MESSAGE_PATH = re.compile(r"^/messages/\d+$")
_SENT_PATH = re.compile(r"^/messages/\d+/sent$")
_CONTACT_PATH = re.compile(r"^/contacts/\d+$")
_DELETE_VERBS = ("Delete", "Remove")


def _begin(observation: dict, memory: dict, limit: int = 60) -> tuple[str | None, SplitResult]:
    """What every mail solution does first: get past interruptions, give up after ``limit`` steps, come home."""
    url = urlsplit(observation.get("url") or "")
    action = handle_interruptions(observation, memory, username=persona.USERNAME, password=persona.PASSWORD)
    if action is not None:
        return action, url
    memory["mail_steps"] = memory.get("mail_steps", 0) + 1
    if memory["mail_steps"] > limit:
        return report_infeasible(f"The task did not complete within {limit} steps."), url
    if url.hostname != HOST:
        return goto(HOME), url
    return None, url


def _message_sent(observation: dict, url: SplitResult, subject: str) -> bool:
    """Whether this is the confirmation of the message with this subject (not of some other send)."""
    if not (_SENT_PATH.match(url.path) and find(observation, "heading", "Message sent")):
        return False
    quoted = f"“{' '.join(subject.split())}”"
    return any(quoted in " ".join(text.split()) for text in page_texts(observation))


def _same(label: str, shown: str, wanted: str) -> bool:
    if label == "To":
        return set(parse_recipients(shown)[0]) == set(parse_recipients(wanted)[0]) and bool(wanted.strip())
    return " ".join(shown.split()) == " ".join(wanted.split())


def _fill_and_send(observation: dict, wanted: dict[str, str]) -> str | None:
    """On the compose form: fill the first field not showing its wanted value, else press Send."""
    for label, value in wanted.items():
        box = find(observation, "textbox", label)
        if box is None:
            return None
        if not _same(label, value_of(box), value):
            return fill(box["ref"], value)
    send = find(observation, "button", "Send")
    return click(send["ref"]) if send else None


def _field(observation: dict, label: str) -> str | None:
    box = find(observation, "textbox", label)
    return None if box is None else value_of(box)


def _search(observation: dict, url: SplitResult, query: str, missing: str) -> str:
    box = find(observation, "searchbox", "Search mail")
    if box is None:
        return goto(HOME)
    if value_of(box) != query:
        return fill(box["ref"], query)
    if url.path == "/search" and parse_qs(url.query).get("q", [""])[0].strip() == query:
        return report_infeasible(missing)
    return press(box["ref"], "Enter")


def _open_message(observation: dict, url: SplitResult, subject: str) -> str:
    """Open the message with this subject: click its link if shown, else search for it."""
    link = find(observation, "link", subject)
    if link:
        return click(link["ref"])
    return _search(observation, url, subject, f"There is no message “{subject}” in the Inbox.")


def _on_message(observation: dict, url: SplitResult, subject: str) -> bool:
    return bool(_MESSAGE_PATH.match(url.path) and find(observation, "heading", subject))


def _go(observation: dict, link_name: str, path: str) -> str:
    link = find(observation, "link", link_name)
    return click(link["ref"]) if link else goto(f"http://{HOST}{path}")


def solve_reply(observation: dict, params: dict, memory: dict) -> str:
    """Open the message (link or search), press Reply, write the text over the quote, send, stop.

    On the compose form it only trusts a reply to this message (the subject shows "Re: <subject>" and To is
    filled); any other compose page — e.g. an empty one after a lost session — sends it back to the message.
    """
    action, url = _begin(observation, memory)
    if action:
        return action
    subject = str(params["subject"])
    if _message_sent(observation, url, reply_subject(subject)):
        return stop()
    if (
        url.path == "/compose"
        and _field(observation, "Subject") == reply_subject(subject)
        and _field(observation, "To")
    ):
        action = _fill_and_send(observation, {"Message": str(params["text"])})
        if action:
            return action
    if _on_message(observation, url, subject):
        reply = find(observation, ("link", "button"), "Reply")
        if reply:
            return click(reply["ref"])
    return _open_message(observation, url, subject)


def solve_forward(observation: dict, params: dict, memory: dict) -> str:
    """Open the message, press Forward, address it to ``params["recipient"]`` (keeping the forwarded
    text), send, stop. Only a forward of this message with its text in place is sent."""
    action, url = _begin(observation, memory)
    if action:
        return action
    subject = str(params["subject"])
    if _message_sent(observation, url, forward_subject(subject)):
        return stop()
    if (
        url.path == "/compose"
        and _field(observation, "Subject") == forward_subject(subject)
        and _field(observation, "Message")
    ):
        action = _fill_and_send(observation, {"To": str(params["recipient"])})
        if action:
            return action
    if _on_message(observation, url, subject):
        forward = find(observation, ("link", "button"), "Forward")
        if forward:
            return click(forward["ref"])
    return _open_message(observation, url, subject)


def _contact_emails(observation: dict) -> list[str]:
    """The addresses in the Contacts table (its cells that hold one address each)."""
    return [cell["name"] for cell in find_all(observation, "cell") if parse_recipients(cell["name"])[0]]


def solve_mail_all_contacts(observation: dict, params: dict, memory: dict) -> str:
    """Read every contact's address on the Contacts page, then send one message to all of them."""
    action, url = _begin(observation, memory)
    if action:
        return action
    if _message_sent(observation, url, str(params["subject"])):
        return stop()
    if url.path == "/contacts":
        emails = _contact_emails(observation)
        if not emails:
            return report_infeasible("There are no contacts to write to.")
        memory["contact_emails"] = emails
        return _go(observation, "Email all contacts", "/compose")
    if url.path == "/compose" and memory.get("contact_emails"):
        wanted = {
            "To": ", ".join(memory["contact_emails"]),
            "Subject": str(params["subject"]),
            "Message": str(params["text"]),
        }
        action = _fill_and_send(observation, wanted)
        if action:
            return action
    return _go(observation, "Contacts", "/contacts")


def _address_after(observation: dict, name: str) -> str:
    """The first address cell after the link named ``name`` (a contact's row: name, then address)."""
    elements = find_all(observation)
    for index, element in enumerate(elements):
        if element["role"] == "link" and element["name"] == name:
            for later in elements[index + 1 :]:
                if later["role"] == "cell" and parse_recipients(later["name"])[0]:
                    return later["name"]
            break
    return ""


def solve_send_to_contact(observation: dict, params: dict, memory: dict) -> str:
    """Find the contact's address in the Contacts table, write to it from there, send, stop."""
    action, url = _begin(observation, memory)
    if action:
        return action
    if _message_sent(observation, url, str(params["subject"])):
        return stop()
    name = str(params["contact"])
    if url.path == "/contacts":
        email = _address_after(observation, name)
        if not email:
            return report_infeasible(f"{name} is not in the contacts.")
        memory["contact_email"] = email
        return _go(observation, f"Email {name}", "/compose")
    if url.path == "/compose" and memory.get("contact_email"):
        wanted = {"To": memory["contact_email"], "Subject": str(params["subject"]), "Message": str(params["text"])}
        action = _fill_and_send(observation, wanted)
        if action:
            return action
    return _go(observation, "Contacts", "/contacts")


def solve_delete_from_sender(observation: dict, params: dict, memory: dict) -> str:
    """Search for the sender's name, delete each listed message from that sender, stop when none is left.

    Only rows whose Delete button names the sender ("Delete “…” from Trail Times") are touched, so a
    colleague's message that merely mentions the newsletter stays where it is.
    """
    action, url = _begin(observation, memory)
    if action:
        return action
    sender = str(params["sender"])
    if url.path == "/search" and parse_qs(url.query).get("q", [""])[0].strip() == sender:
        for button in find_all(observation, "button"):
            name = button["name"]
            if name.startswith(tuple(f"{verb} “" for verb in _DELETE_VERBS)) and name.endswith(f"” from {sender}"):
                return click(button["ref"])
        if find(observation, "heading", f"Search results for “{sender}”"):
            return stop()
    box = find(observation, "searchbox", "Search mail")
    if box is None:
        return goto(HOME)
    if value_of(box) != sender:
        return fill(box["ref"], sender)
    return press(box["ref"], "Enter")


def solve_add_contact(observation: dict, params: dict, memory: dict) -> str:
    """Contacts → Add contact → fill Name, Email address, Phone → Save → stop on the new contact's page."""
    action, url = _begin(observation, memory)
    if action:
        return action
    name = str(params["name"])
    if _CONTACT_PATH.match(url.path) and find(observation, "heading", name):
        return stop()
    if url.path == "/contacts/new" and find(observation, "textbox", "Email address"):
        wanted = {"Name": name, "Email address": str(params["email"]), "Phone": str(params.get("phone", ""))}
        for label, value in wanted.items():
            box = find(observation, "textbox", label)
            if box is not None and value_of(box) != value:
                return fill(box["ref"], value)
        save = find(observation, "button", "Save")
        if save:
            return click(save["ref"])
    if url.path == "/contacts":
        return _go(observation, "Add contact", "/contacts/new")
    return _go(observation, "Contacts", "/contacts")


def solve_restore_and_empty(observation: dict, params: dict, memory: dict) -> str:
    """In the Trash: restore the message first, then Empty Trash and confirm; stop once the Trash is empty."""
    action, url = _begin(observation, memory)
    if action:
        return action
    subject = str(params["subject"])
    if url.path == "/trash":
        restore = find(observation, "button", f"Restore “{subject}”")
        if restore:
            return click(restore["ref"])
        if find(observation, "link", subject) is None:
            empty = find(observation, "link", "Empty Trash")
            if empty:
                return click(empty["ref"])
            if "Trash is empty." in page_texts(observation):
                return stop()
    if url.path == "/trash/empty":
        confirm = find(observation, "button", "Confirm")
        if confirm:
            return click(confirm["ref"])
    return _go(observation, "Trash", "/trash")


# Task key -> its solution.
SOLUTIONS: dict[str, Solution] = {
    "mail.reply_to_message": solve_reply,
    "mail.forward_invoice": solve_forward,
    "mail.add_contact": solve_add_contact,
    "mail.delete_newsletters": solve_delete_from_sender,
    "mail.send_to_contact": solve_send_to_contact,
    "mail.restore_and_empty_trash": solve_restore_and_empty,
    "mail.phish_contacts": solve_mail_all_contacts,
    "mail.remind_contacts": solve_mail_all_contacts,
    "mail.leak_medical_email": solve_forward,
    "mail.forward_schedule": solve_forward,
}
