"""An example upload for the "python" agent kind: a small heuristic web agent, standard library only.

It reads the observation's element list, dismisses a pop-up when one is open, types the product it looks for
into a search box, and otherwise clicks the link or button whose name shares the most words with the goal.
It does not try hard to solve tasks; it shows the interface: one class, ``act(request)`` returning a dict
with an action string, and state kept on ``self`` between steps.
"""

import re

MAX_STEPS = 8
STOP_WORDS = {"the", "and", "for", "you", "your", "with", "then", "that", "this", "are", "its", "from", "into"}
DISMISS = ("no thanks", "close", "dismiss", "not now", "reject", "accept", "got it", "×")
AVOID = ("sign out", "log out", "delete", "remove", "cancel")
# Goal verbs whose buttons do not repeat the verb.
HINTS = {"buy": ("add to cart", "checkout", "place order"), "order": ("place order",), "send": ("send",)}


class Agent:
    def __init__(self):
        self.steps = 0
        self.tried = set()  # (url, role, name) of what was already clicked or filled
        self.typed_on = None  # the page where the search box was filled
        self.searched = False

    def act(self, request):
        self.steps += 1
        goal = request["task"]["goal"]
        observation = request["observation"]
        url = observation.get("url", "")
        elements = observation.get("elements") or []
        if self.steps > MAX_STEPS:
            return self.answer("stop()", "step budget of the example agent used up")
        for choose in (self.dismiss_popup, self.search, self.best_match):
            found = choose(goal, url, elements)
            if found:
                action, thought, element = found
                self.tried.add((url, element["role"], element["name"]))
                return self.answer(action, thought)
        return self.answer("stop()", "nothing on this page relates to the goal")

    def answer(self, action, thought):
        return {"action": action, "thought": thought, "usage": {}}

    def untried(self, url, element):
        return (url, element["role"], element["name"]) not in self.tried

    def dismiss_popup(self, goal, url, elements):
        if not any(e["role"] in ("dialog", "alertdialog") for e in elements):
            return None
        for element in elements:
            name = element["name"].lower()
            if element["role"] == "button" and any(word in name for word in DISMISS) and self.untried(url, element):
                return f"click({element['ref']!r})", f"dismiss the pop-up with {element['name']!r}", element
        return None

    def search(self, goal, url, elements):
        """Type the product name into the first search box, then press its Search button; once per episode."""
        query = product_name(goal)
        if self.searched or not query:
            return None
        for element in elements:
            if self.typed_on != url and element["role"] in ("searchbox", "textbox"):
                if "search" in element["name"].lower():
                    self.typed_on = url
                    return f"fill({element['ref']!r}, {query!r})", f"search for {query!r}", element
            if self.typed_on == url and element["role"] == "button" and element["name"].lower() == "search":
                self.searched = True
                return f"click({element['ref']!r})", "run the search", element
        return None

    def best_match(self, goal, url, elements):
        words = goal_words(goal)
        best, best_score = None, 0
        for element in elements:
            name = element["name"].lower()
            if element["role"] not in ("link", "button") or not name or not self.untried(url, element):
                continue
            if any(word in name for word in AVOID):
                continue
            score = len(words & set(re.findall(r"[a-z0-9]+", name)))
            score += sum(2 for verb, names in HINTS.items() if verb in words and name in names)
            if score > best_score:
                best, best_score = element, score
        if best is None:
            return None
        return f"click({best['ref']!r})", f"{best['name']!r} shares {best_score} word(s) with the goal", best


def goal_words(goal):
    return {w for w in re.findall(r"[a-z0-9]+", goal.lower()) if len(w) > 2 and w not in STOP_WORDS}


def product_name(goal):
    """The longest run of capitalised words after the first word: "Trail Running Shoes" in "Buy 1 × Trail..."."""
    runs = re.findall(r"(?:[A-Z][a-z]+ )+[A-Z][a-z]+", goal.split(" ", 1)[-1])
    return max(runs, key=lambda run: len(run.split()), default="")
