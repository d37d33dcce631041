"""Identifiers and names of engine objects, the way Docker makes them.

IDs are 64 lowercase hex characters (256 random bits). Any unique prefix of
an ID, or a name with or without its leading ``/``, refers to the object.
Generated names are ``adjective_surname`` from a space of ~20,000 pairs
(plus a numeric suffix on collision), so test suites that create hundreds of
containers never collide.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterable

from skiff.errors import Invalid, NotFound

_ADJECTIVES = """admiring adoring affectionate agitated amazing angry awesome beautiful blissful bold
boring brave busy charming clever compassionate competent condescending confident cool cranky crazy
dazzling determined distracted dreamy eager ecstatic elastic elated elegant eloquent epic exciting
fervent festive flamboyant focused friendly frosty funny gallant gifted goofy gracious great happy
hardcore heuristic hopeful hungry infallible inspiring intelligent interesting jolly jovial keen kind
laughing loving lucid magical modest musing mystifying naughty nervous nice nifty nostalgic objective
optimistic peaceful pedantic pensive practical priceless quirky quizzical recursing relaxed reverent
romantic sad serene sharp silly sleepy stoic strange stupefied suspicious sweet tender thirsty trusting
unruffled upbeat vibrant vigilant vigorous wizardly wonderful xenodochial youthful zealous zen""".split()

_SURNAMES = """agnesi albattani allen almeida antonelli archimedes ardinghelli aryabhata austin babbage
banach banzai bardeen bartik bassi beaver bell benz bhabha bhaskara black blackburn blackwell bohr booth
borg bose bouman boyd brahmagupta brattain brown buck burnell cannon carson cartwright carver cerf
chandrasekhar chaplygin chatelet chatterjee chaum chebyshev clarke cohen colden cori cray curie curran
darwin davinci dewdney dhawan diffie dijkstra dirac driscoll dubinsky easley edison einstein elbakyan
elgamal elion ellis engelbart euclid euler faraday feistel fermat fermi feynman franklin gagarin galileo
galois ganguly gates gauss germain goldberg goldstine goldwasser golick goodall gould greider grothendieck
haibt hamilton haslett hawking heisenberg hellman hermann herschel hertz heyrovsky hodgkin hofstadter
hoover hopper hugle hypatia ishizaka jackson jang jemison jennings jepsen johnson joliot jones kalam
kapitsa kare keldysh keller kepler khayyam khorana kilby kirch knuth kowalevski lalande lamarr lamport
leakey leavitt lederberg lehmann lewin lichterman liskov lovelace lumiere mahavira margulis matsumoto
maxwell mayer mccarthy mcclintock mclaren mclean mcnulty meitner mendel mendeleev meninsky merkle
mestorf mirzakhani montalcini moore morse moser murdock napier nash neumann newton nightingale nobel
noether northcutt noyce panini pare pascal pasteur payne perlman pike poincare poitras proskuriakova
ptolemy raman ramanujan rhodes ride ritchie robinson roentgen rosalind rubin saha sammet sanderson
satoshi shamir shannon shaw shirley shockley shtern sinoussi snyder solomon spence stonebraker sutherland
swanson swartz swirles taussig tesla tharp thompson torvalds tu turing varahamihira vaughan villani
visvesvaraya volhard wescoff wilbur wiles williams williamson wilson wing wozniak wright wu yalow yonath
zhukovsky""".split()


def new_id() -> str:
    return secrets.token_hex(32)


def short(object_id: str) -> str:
    return object_id.removeprefix("sha256:")[:12]


def random_name(taken: Callable[[str], bool]) -> str:
    """A free ``adjective_surname`` name (Docker's scheme)."""
    for attempt in range(64):
        name = f"{random.choice(_ADJECTIVES)}_{random.choice(_SURNAMES)}"
        if attempt > 8:
            name += str(random.randint(0, 99))
        if not taken(name):
            return name
    raise RuntimeError("could not find a free container name")


def validate_name(name: str) -> str:
    """Docker's name rule: ``/?[a-zA-Z0-9][a-zA-Z0-9_.-]+``; returns it without the slash."""
    import re

    bare = name.removeprefix("/")
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", bare):
        raise Invalid.field("name", f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return bare


def resolve(ref: str, ids: Iterable[str], names: dict[str, str], kind: str = "container") -> str:
    """The full ID ``ref`` denotes: exact ID, name (with or without /), or unique ID prefix."""
    all_ids = list(ids)
    if ref in all_ids:
        return ref
    bare = ref.removeprefix("/")
    if bare in names:
        return names[bare]
    if len(ref) >= 1:
        matches = [i for i in all_ids if i.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Invalid.field(kind, f"multiple IDs found with provided prefix: {ref}")
    raise NotFound(f"No such {kind}: {ref}")
