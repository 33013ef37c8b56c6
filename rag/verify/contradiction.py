"""Contradictions the project's scorers veto whatever their model says: a claim that expands an abbreviation
otherwise than the passage does ("cif stands for C Interchangeable Function" against "cif is short for Call
InterFace"), uses the antonym of what the passage's sentence about the same thing says (open/closed,
rose/fell, before/after, older/younger, ...), puts its own name, number, month or weekday where the passage's
sentence the claim copies has another there ("awarded to Maya Lindqvist in 2019" against "awarded to
Priya Raman in 2019", "ten books" against "six books"), drops or adds a negation in a sentence it copies, says
of its subject what the passage says of another, or gives its subject the part a coordinate clause gives another
("Rui Costa played piano" against "with Ana Ferreira on piano and Rui Costa on bass"). `conflicts(premise,
claim)` lists them; rag.verify.rules caps the support of such claims at CONFLICT_CAP.

Only rules that almost never fire on supported claims are vetoes. Measured on the dev splits (supported claims
flagged / unsupported flagged): antonyms 0/36 and 0/69 on WiCE, 1/500 and 1/500 on HaluEval, 1/331 and 3/441 on
the synthetic claims; expansions never fired on supported claims. The substitution, negation and other-subject
rules (2026-12-02) together: 1/36, 1/500 and 1/173 supported dev claims, and 4 of 414 CLAPNQ gold answer
sentences against their own gold passage. The role-swap rule (2026-12-04) fired on no supported claim: 0 of the
706 dev and 5,135 train supported claims of WiCE, HaluEval and the synthetic set (1 of 5,711 unsupported train
claims), 0 of the 414 CLAPNQ gold answer sentences, and 0 of the 31,755 supported pairs of ../shared/data/nli
(3 of 54,361 unsupported), whose FEVER false vetoes shaped its agent and irregular-verb conditions. Missing
names, missing numbers and negation mismatches fire on 8 to 37% of supported claims, so they stay soft features of
the calibrated scorer (rag.verify.heuristic), not vetoes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher
from functools import lru_cache

from rag.text import NAME, NEGATIONS, NUMBER, STOPWORDS, WORD, content_stems, sentences, wordset

CONFLICT_CAP = 0.05
# an antonym counts only against the premise clause that says the rest of the claim
SAME_THING = 0.6
CLAUSE = re.compile(r"[,;:]\s+|\s+(?:and|but|while|whereas)\s+")
ANTONYMS = (
    ("open", "closed"),
    ("opened", "closed"),
    ("rose", "fell"),
    ("rise", "fall"),
    ("rises", "falls"),
    ("risen", "fallen"),
    ("increased", "decreased"),
    ("increase", "decrease"),
    ("increases", "decreases"),
    ("grew", "shrank"),
    ("gained", "lost"),
    ("won", "lost"),
    ("before", "after"),
    ("shorter", "longer"),
    ("longer", "shorter"),
    ("older", "younger"),
    ("oldest", "youngest"),
    ("larger", "smaller"),
    ("largest", "smallest"),
    ("bigger", "smaller"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("faster", "slower"),
    ("more", "fewer"),
    ("more", "less"),
    ("first", "last"),
    ("earlier", "later"),
    ("earliest", "latest"),
    ("north", "south"),
    ("northern", "southern"),
    ("east", "west"),
    ("eastern", "western"),
    ("above", "below"),
    ("inside", "outside"),
    ("enabled", "disabled"),
    ("enable", "disable"),
    ("allowed", "forbidden"),
    ("allows", "forbids"),
    ("accepted", "rejected"),
    ("accepts", "rejects"),
    ("included", "excluded"),
    ("includes", "excludes"),
    ("minimum", "maximum"),
    ("added", "removed"),
    ("adds", "removes"),
    ("started", "finished"),
    ("starts", "ends"),
    ("begins", "ends"),
    ("true", "false"),
    ("success", "failure"),
    ("succeeded", "failed"),
    ("bought", "sold"),
    ("buys", "sells"),
    ("import", "export"),
    ("imports", "exports"),
    ("public", "private"),
    ("legal", "illegal"),
    ("possible", "impossible"),
    ("required", "optional"),
    ("synchronous", "asynchronous"),
)
OPPOSITE: dict[str, set[str]] = {}
for left, right in ANTONYMS:
    OPPOSITE.setdefault(left, set()).add(right)
    OPPOSITE.setdefault(right, set()).add(left)
EXPANSION = r"((?:[A-Z+][\w+-]*[ ,]*){2,8})"
MEANS = r"(?:stands for|is short for|short for|means|is an acronym for|abbreviates)"
EXPANSIONS = (
    # "cif is short for Call InterFace", "RPM here means Resource Pool Manager": the word right before
    re.compile(rf"\b(?P<abbr>[A-Za-z][\w]{{1,11}})\s+(?:here\s+|which\s+)?{MEANS}\s+(?:the\s+)?(?P<long>{EXPANSION})"),
    # "The GDS format, short for Graph Data Stream": a capitals abbreviation a word or two before
    re.compile(rf"\b(?P<abbr>[A-Z][A-Z0-9]{{1,9}})\b(?:\s+\w+){{0,2}},?\s+{MEANS}\s+(?:the\s+)?(?P<long>{EXPANSION})"),
    # "NWA (National Weather Archive)", "NWA, the National Wildlife Association,"
    re.compile(rf"\b(?P<abbr>[A-Z][A-Z0-9]{{1,9}})\b\s*(?:\(|,\s*the\s+)(?P<long>{EXPANSION})"),
    # "National Weather Archive (NWA)"
    re.compile(rf"(?P<long>{EXPANSION})\s*\((?P<abbr>[A-Z][A-Z0-9]{{1,9}})\)"),
)
# two expansions of one abbreviation differ when they share less than this share of their content words
SAME_EXPANSION = 0.5
MONTHS = wordset("january february march april may june july august september october november december")
WEEKDAYS = wordset("monday tuesday wednesday thursday friday saturday sunday")
NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"],
        start=0,
    )
} | {"twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000"}
# a claim copies a premise sentence when that share of its words appear in it, in order
SAME_WORDING = 0.6
# a negation added or dropped counts only in a claim that copies its sentence this closely
SAME_POLARITY_WORDING = 0.8
# a substitute is a short run of words in place of another (a longer one is a reworded or left-out clause): a name
# of up to SUBSTITUTE_WORDS words; a negation with at most FLIP_WORDS words around it ("no" for "an", "not" alone)
SUBSTITUTE_WORDS = 4
FLIP_WORDS = 2
# a claim about another subject: the rest of it copies this share of a sentence about someone else
SAME_SUBJECT_WORDING = 0.8
SAME_SUBJECT_MIN_WORDS = 4
# clauses in coordination: the parts a role swap exchanges ("A on piano and B on bass", "written by A; added by B")
COORDINATE = re.compile(r";\s+|\s+(?:and|but|while|whereas)\s+")
# irregular verb forms of parts people play, as content stems, read as the verb's stem
IRREGULAR = {
    "wrote": "write",
    "writt": "write",
    "sang": "sing",
    "sung": "sing",
    "led": "lead",
    "drew": "draw",
    "drawn": "draw",
    "built": "build",
    "made": "make",
    "took": "take",
    "taken": "take",
    "gave": "give",
    "given": "give",
    "began": "begin",
    "begun": "begin",
    "won": "win",
    "sold": "sell",
    "bough": "buy",
    "taugh": "teach",
    "paid": "pay",
    "ran": "run",
    "held": "hold",
    "spoke": "speak",
}
# the word before a name that does something in its clause: none (the clause's start), a conjunction, by, with
AGENT_BEFORE = {None, "and", "but", "by", "with"}


def conflicts(premise: str, claim: str) -> list[str]:
    """Why `claim` contradicts `premise` (empty when no rule finds a contradiction)."""
    found = other_expansions(premise, claim)
    # a clause that says the rest of the claim; else a whole sentence ("The older of the two sisters, Clara, took
    # over ..." has no clause that does)
    best = best_sentence(premise, claim) or best_sentence(premise, claim, split_clauses=False)
    if best is not None:
        found += antonyms(best, claim)
    return (
        found
        + substitutions(premise, claim)
        + polarity_flips(premise, claim)
        + other_subjects(premise, claim)
        + role_swaps(premise, claim)
    )


def expansions(text: str) -> dict[str, set[str]]:
    """Abbreviation (lower-cased) -> the content stems of each expansion the text gives it."""
    found: dict[str, set[str]] = {}
    for pattern in EXPANSIONS:
        for match in pattern.finditer(text):
            stems = content_stems(match["long"])
            if stems:
                found.setdefault(match["abbr"].lower(), set()).update(stems)
    return found


def other_expansions(premise: str, claim: str) -> list[str]:
    """Abbreviations the claim expands otherwise than the premise does."""
    given = expansions(premise)
    return [
        f"the passage expands {abbr} otherwise"
        for abbr, stems in expansions(claim).items()
        if abbr in given and len(stems & given[abbr]) / len(stems | given[abbr]) < SAME_EXPANSION
    ]


def best_sentence(premise: str, claim: str, split_clauses: bool = True) -> str | None:
    """The premise clause (a sentence, or a part of one between commas, semicolons, "and", "but", "while"; or with
    split_clauses=False a whole sentence) that says most of the claim's content words, if it says at least
    SAME_THING of them."""
    wanted = content_stems(claim)
    if not wanted:
        return None
    parts = sentences(premise) or [premise]
    candidates = [c for s in parts for c in (CLAUSE.split(s) if split_clauses else [s]) if c.strip()]
    scored = [(len(wanted & content_stems(c)) / len(wanted), c) for c in candidates or [premise]]
    share, clause = max(scored, key=lambda pair: pair[0])
    return clause if share >= SAME_THING else None


def antonyms(sentence: str, claim: str) -> list[str]:
    """Words of the claim whose antonym the sentence uses instead (and not the word itself)."""
    claim_words, premise_words = words_of(claim), words_of(sentence)
    return [
        f"the passage says {sorted(OPPOSITE[word] & premise_words)[0]}, not {word}"
        for word in sorted(claim_words - premise_words)
        if OPPOSITE.get(word, set()) & premise_words
    ]


def unstated(claim: str, source: str) -> list[str]:
    """Names (capitalised words after a sentence's first) and numbers of the claim that `source` (a passage with
    its title and heading) never mentions: the stricter standard for sentences a generator wrote, which must not
    bring in a name or a figure of their own (setting generated_exact_names)."""
    lowered = source.lower()
    names = {m.group() for s in sentences(claim) or [claim] for m in NAME.finditer(s) if m.start() > 0}
    figures = set(NUMBER.findall(claim))
    return sorted(n for n in names | figures if n.lower() not in STOPWORDS and n.lower() not in lowered)


Tagged = tuple[tuple[str, str | None], ...]


@lru_cache(maxsize=4096)
def tagged(text: str) -> Tagged:
    """The text's words, lower-cased (possessives cut, number words as digits), each with its slot kind: "name"
    (a capitalised word after a sentence's first, or a first one followed by another), "figure", "month",
    "weekday", or None. Cached: every rule reads the same claim and passage sentences."""
    return tuple(tag for sentence in sentences(text) or [text] for tag in _tagged_sentence(sentence))


def _tagged_sentence(sentence: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    words = WORD.findall(sentence)
    for i, word in enumerate(words):
        lowered = word.lower().removesuffix("'s").rstrip("'")
        if lowered.endswith("n't") and lowered != "n't":  # "aren't" as "are n't", as tokenised text writes it
            found.append((lowered.removesuffix("n't"), None))
            lowered = "n't"
        capital = word[0].isupper()
        if capital and lowered in MONTHS:
            found.append((lowered, "month"))
        elif capital and lowered in WEEKDAYS:
            found.append((lowered, "weekday"))
        elif NUMBER.fullmatch(word) or lowered in NUMBER_WORDS:
            found.append((NUMBER_WORDS.get(lowered, word.replace(",", "")), "figure"))
        elif capital and lowered not in STOPWORDS and (i > 0 or (len(words) > 1 and words[1][0].isupper())):
            found.append((lowered, "name"))
        else:
            found.append((lowered, None))
    return found


def in_order(words: Sequence[str], source: Tagged) -> tuple[float, SequenceMatcher]:
    """The share of `words` that `source` has in the same order, and their alignment."""
    matcher = SequenceMatcher(None, words, [word for word, _ in source], autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(1, len(words)), matcher


@lru_cache(maxsize=1024)
def copied_sentence(premise: str, claim: str) -> tuple[float, Tagged, SequenceMatcher]:
    """The premise sentence (tagged) sharing most of the claim's words in order, the share, and their alignment.
    Cached: the substitution and negation rules both ask for it."""
    claim_words = [word for word, _ in tagged(claim)]
    best: tuple[float, Tagged, SequenceMatcher] | None = None
    for sentence in sentences(premise) or [premise]:
        source = tagged(sentence)
        share, matcher = in_order(claim_words, source)
        if best is None or share > best[0]:
            best = (share, source, matcher)
    assert best is not None
    return best


def substitutions(premise: str, claim: str) -> list[str]:
    """Names, figures, months and weekdays of the claim that the premise never mentions, standing where the premise
    sentence the claim copies (at least SAME_WORDING of its words, in order) has another of the same kind."""
    claimed = tagged(claim)
    known = {part for word, _ in tagged(premise) for part in (word, *word.split("-"))}
    missing = {word for word, kind in claimed if kind is not None and not set(word.split("-")) <= known}
    if not missing:
        return []
    share, source, matcher = copied_sentence(premise, claim)
    if share < SAME_WORDING:
        return []
    claim_words = {word for word, _ in claimed}
    found = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace" or i2 - i1 > SUBSTITUTE_WORDS:
            continue
        # what stands in the claim's place: the words of the sentence's differing run next to the shared ones
        beside = source[j1 : j1 + SUBSTITUTE_WORDS] + source[max(j1 + SUBSTITUTE_WORDS, j2 - SUBSTITUTE_WORDS) : j2]
        initials = "".join(word[0] for word, _ in claimed[i1:i2])  # "UK" for "United Kingdom" is no substitute
        for word, kind in claimed[i1:i2]:
            instead = [w for w, k in beside if k == kind and w not in claim_words and w != initials]
            if word in missing and instead:
                found.append(f"the passage says {instead[0]}, not {word}")
    return found


def leading_names(words: Tagged) -> int:
    """How many of the tagged words open the text as its subject's name (after an optional "the")."""
    count = 1 if words and words[0][0] == "the" else 0
    while count < len(words) and words[count][1] == "name":
        count += 1
    return count if any(kind == "name" for _, kind in words[:count]) else 0


def other_subjects(premise: str, claim: str) -> list[str]:
    """A claim that says of its subject what a premise sentence says of another ("Cia Berg (born October 10, 1954)
    is an American rock vocalist" from "David Lee Roth (born October 10, 1954) is an American rock vocalist"):
    the two open with names sharing no word, and the rest of the claim (at least SAME_SUBJECT_MIN_WORDS words)
    copies at least SAME_SUBJECT_WORDING of the rest of the sentence, in order."""
    claimed = tagged(claim)
    subject = leading_names(claimed)
    rest = [word for word, _ in claimed[subject:]]
    if not subject or len(rest) < SAME_SUBJECT_MIN_WORDS:
        return []
    names = {word for word, kind in claimed[:subject] if kind == "name"}
    for sentence in sentences(premise) or [premise]:
        source = tagged(sentence)
        other = leading_names(source)
        theirs = {word for word, kind in source[:other] if kind == "name"}
        if not theirs or theirs & names:
            continue
        if in_order(rest, source[other:])[0] >= SAME_SUBJECT_WORDING:
            return [f"the passage says this of {' '.join(w for w, _ in source[:other])}"]
    return []


def role_swaps(premise: str, claim: str) -> list[str]:
    """A claim that gives its subject the part a premise sentence gives someone else ("Rui Costa played piano on
    the album" against "..., with Ana Ferreira on piano and Rui Costa on bass"): the claim opens with a full name
    (two name words or more, alone: not "A and B ...") that has a clause of its own in a sentence saying at least
    SAME_THING of the claim's other content words; the claim says none of that clause's words, and says words of
    a clause in coordination with it (next to it, after "and", "but", "while", "whereas" or a semicolon) in which
    another full name, one the claim does not mention, does something (agents: not "an English singer", not "from
    New Zealand")."""
    claimed = tagged(claim)
    subject = leading_names(claimed)
    if not subject or claimed[subject : subject + 1] == (("and", None),):
        return []
    names = {word for word, kind in claimed[:subject] if kind == "name"}
    if len(names) < 2:  # a full name, as the other person's must be
        return []
    name_stems = role_stems(" ".join(names))
    wanted = role_stems(claim) - name_stems
    claim_words = {word for word, _ in claimed}
    for sentence in sentences(premise) or [premise]:
        if len(wanted & role_stems(sentence)) < SAME_THING * len(wanted):
            continue
        parts, coordinate = coordinated_clauses(sentence)
        mentions = [i for i, part in enumerate(parts) if names <= {w for w, kind in tagged(part) if kind == "name"}]
        owns = {i: role_stems(parts[i]) - name_stems for i in mentions}
        if any(own & wanted for own in owns.values()):  # somewhere the sentence says the claim of its subject
            continue
        for i in mentions:
            if not owns[i]:
                continue
            beside = [parts[j] for j, join in ((i - 1, i and coordinate[i - 1]), (i + 1, coordinate[i])) if join]
            for other in beside:
                theirs = [name for name in agents(tagged(other)) if not set(name) & claim_words]
                if theirs and wanted & role_stems(other):
                    return [f"the passage says this of {' '.join(theirs[0])}"]
    return []


def role_stems(text: str) -> set[str]:
    """content_stems with the irregular forms of verbs that name a part read as the verb ("wrote", "written":
    "write"), so that "Roberto Orci wrote Star Trek" says the word of "written by Roberto Orci"."""
    return {IRREGULAR.get(stem, stem) for stem in content_stems(text)}


def coordinated_clauses(sentence: str) -> tuple[list[str], list[bool]]:
    """The sentence's clauses (CLAUSE), and for each whether it is in coordination with the next one (a semicolon
    or a conjunction between them, also after a comma: ", and"); the last is False."""
    pieces = re.split(f"({CLAUSE.pattern})", sentence)
    parts = pieces[::2]
    joins = [
        bool(COORDINATE.fullmatch(join) or COORDINATE.match(f" {after}"))
        for join, after in zip(pieces[1::2], parts[1:], strict=True)
    ]
    return parts, [*joins, False]


def agents(words: Tagged) -> list[tuple[str, ...]]:
    """The full names (runs of two or more name words) that stand where a clause names who does something: at
    its start (after an optional conjunction) or after "by" or "with" ("with Ana Ferreira on piano", "written by
    Jun Okada"); not "from New Zealand" or "by the English rock band Pink Floyd"."""
    found: list[tuple[str, ...]] = []
    run: list[str] = []
    before: str | None = None
    for word, kind in [*words, ("", None)]:
        if kind == "name":
            run.append(word)
            continue
        if len(run) > 1 and before in AGENT_BEFORE:
            found.append(tuple(run))
        before, run = word, []
    return found


def polarity_flips(premise: str, claim: str) -> list[str]:
    """A negation ("no", "not", "never", ...) that the premise sentence the claim copies almost word for word (at
    least SAME_POLARITY_WORDING) has and the claim drops, or the reverse, at the same place (in a run of at most
    FLIP_WORDS differing words)."""
    claimed = tagged(claim)
    share, source, matcher = copied_sentence(premise, claim)
    if share < SAME_POLARITY_WORDING:
        return []
    found = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        said = {w for w, _ in claimed[i1:i2]} & NEGATIONS
        given = {w for w, _ in source[j1:j2]} & NEGATIONS
        if tag != "equal" and max(i2 - i1, j2 - j1) <= FLIP_WORDS and bool(said) != bool(given):
            found.append(
                f"the passage says {sorted(given)[0]}" if given else f"the passage does not say {sorted(said)[0]}"
            )
    return found


def words_of(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}
