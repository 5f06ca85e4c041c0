# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Identification of the insured person (REQ-2, POL-4, P8).

One search box: a policy number, a fragment of the full name with a typo or
a missing letter, a birth date, a phone in any format.  Persons keep
normalised keys (name, document, phones, policy numbers) filled on create
and write; the distinct words of all names form a small dictionary in which
a misspelt word is corrected (pg_trgm on PostgreSQL, the same trigram
measure in Python on SQLite) before the persons are looked up by exact
words."""
import datetime as dt
from itertools import groupby

from sql import Conflict, Literal, Union
from sql.functions import Function
from sql.operators import Concat, Equal

from trytond import backend
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.transaction import Transaction
from trytond.wizard import Button, StateView, Wizard

from . import identification_query as iq
from . import policy_import_rules as rules
from .rpc_access import readable_ids, rpc_access, rule_query

# How many corrections of a misspelt word are tried, and how close they must
# be (pg_trgm's similarity).
FUZZY_ALTERNATIVES = 8
FUZZY_THRESHOLD = 0.3
CANDIDATES = 200
# The persons born on a day among whom a name far from any is looked for
# (about 35 a day in a million persons).
BIRTH_DATE_CANDIDATES = 500
# The persons found by name among whom the shown ones are chosen, per person
# shown: as many rows of the table read.
NAME_CANDIDATES_PER_RESULT = 5
# The corrections searched first: the fewest letters away (at most
# CLOSE_DISTANCE), else at most CLOSE_MARGIN (in similarity) less close than
# the closest.  One common word taken as a correction («Владимир» for
# «Владиирова») matches thousands of persons.
CLOSE_ALTERNATIVES = 3
CLOSE_DISTANCE = 2
CLOSE_MARGIN = 0.1
# The score of a word one letter away from the token typed (word_score
# gives a correction 0.8 × its trigram similarity, which is low for short
# words with a typo inside).
NEIGHBOUR_SCORE = 0.6
# The share of its score a name keeps when its words are not in the order
# typed.
OTHER_ORDER = 0.95
# The GIN index of the name words keeps at most this many kB of new entries
# unsorted (each search reads them all): 4 MB by default.
WORDS_PENDING_LIST_KB = 256


def _is_postgresql():
    return backend.name == 'postgresql'


class _Any(Function):
    "ANY(array), PostgreSQL's test of membership in an array"
    __slots__ = ()
    _function = 'ANY'


def keys_in(column, values):
    """Return the condition that column is one of values (a chunk's keys):
    on PostgreSQL, one array parameter — psycopg parses a statement of a
    thousand parameters again each time, a third of the look-ups' time."""
    values = list(values)
    if _is_postgresql():
        return Equal(column, _Any(values))
    return column.in_(values)


def execute_lookup(cursor, query):
    """Execute query, a look-up of many keys (a list's chunk), planned for
    its own keys.

    psycopg prepares a statement run five times; PostgreSQL may then keep
    one generic plan for it, made when the tables were small (an import's
    first chunks), that compares every row read with each of the thousand
    keys in turn: seconds a chunk once the tables have grown."""
    if _is_postgresql():
        cursor.execute(*query, prepare=False)
    else:
        cursor.execute(*query)


class NameWord(ModelSQL):
    "A word of the insured persons' names, to correct misspelt searches"
    __name__ = 'assistance.party.name_word'
    word = fields.Char("Word", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('word_uniq', Unique(t, t.word), 'assistance_policy.msg_name_word_unique'),
            ]

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        if _is_postgresql():
            cursor = Transaction().connection.cursor()
            cursor.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
            # Named without Tryton's idx_ prefix: set_indexes would drop it.
            cursor.execute(
                'CREATE INDEX IF NOT EXISTS assistance_name_word_trgm '
                'ON "assistance_party_name_word" '
                'USING gin ("word" gin_trgm_ops)')

    @classmethod
    def add_words(cls, names):
        "Add the words of names that the dictionary does not have yet"
        words = set()
        for name in names:
            words.update(rules.name_words(name))
        if not words:
            return
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        # The words already known are skipped by the unique index: no
        # look-up to race with another transaction adding the same word.
        for sub in rules.chunks(sorted(words), 1000):
            cursor.execute(*table.insert(
                    [table.word, table.create_uid, table.create_date],
                    [[w, Transaction().user, dt.datetime.now()]
                        for w in sub],
                    on_conflict=Conflict(table, indexed_columns=[table.word])))

    @classmethod
    def alternatives(cls, token):
        """Return [(word, score)]: the dictionary words a typed token may
        mean, the token itself and the words it begins first."""
        prefixed, = cls.prefixed_words([token])
        corrections, = cls.corrections([token])
        return prefixed + corrections

    @classmethod
    def prefixed_words(cls, tokens):
        """Return for each token [(word, score)], best first: the token if
        it is a word, and the words it begins (at most 50)"""
        if _is_postgresql():
            found = cls._words_by_token(
                [(_PREFIX_QUERY, (_PATTERN,))], tokens)
        else:
            words = cls._all_words()
            found = [[w for w in words if w.startswith(t)] for t in tokens]
        return [_best((w, rules.word_score(t, w)) for w in words)[:50]
            for t, words in zip(tokens, found)]

    @classmethod
    def corrections(cls, tokens):
        """Return for each token [(word, score)], best first: the words
        that may be its misspelling (those a letter away, then at most
        FUZZY_ALTERNATIVES similar ones), those it begins excluded"""
        if _is_postgresql():
            found = cls._words_by_token(
                [(_FUZZY_QUERY, _FUZZY_PARAMS)], tokens)
        else:
            words = cls._all_words()
            found = [[w for w in words
                    if rules.similarity(t, w) >= FUZZY_THRESHOLD]
                for t in tokens]
        near = cls.neighbour_words(tokens)
        return [_corrections(t, words, n)
            for t, words, n in zip(tokens, found, near)]

    @classmethod
    def neighbour_words(cls, tokens):
        """Return for each token the dictionary words one letter away
        (replaced, missing, doubled, two swapped): the typos that share
        too few trigrams with the word meant for the trigram search
        («егоорв» for «егоров»), looked up by equality — one query"""
        candidates = {t: iq.neighbours(t) for t in tokens}
        wanted = sorted({w for n in candidates.values() for w in n})
        if not wanted:
            return [[] for _ in tokens]
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        known = set()
        for sub in rules.chunks(wanted, 5000):
            cursor.execute(*table.select(table.word,
                    where=keys_in(table.word, sub)))
            known.update(w for w, in cursor)
        return [[w for w in candidates[t] if w in known] for t in tokens]

    @classmethod
    def lookup(cls, tokens):
        """Return for each token [(word, score)], best first: its prefixed
        words, or its corrections when it begins no word — one query"""
        if not _is_postgresql():
            prefixed = cls.prefixed_words(tokens)
            missing = [i for i, p in enumerate(prefixed) if not p]
            for i, words in zip(missing,
                    cls.corrections([tokens[i] for i in missing])):
                prefixed[i] = words
            return prefixed
        found = cls._words_by_token([
                (_PREFIX_QUERY, (_PATTERN,)),
                (f'SELECT word FROM ({_FUZZY_QUERY}) AS f '
                    'WHERE NOT EXISTS (SELECT 1 '
                    'FROM "assistance_party_name_word" WHERE word LIKE %s)',
                    _FUZZY_PARAMS + (_PATTERN,)),
                ], tokens)
        unknown = [t for t, words in zip(tokens, found)
            if not any(w.startswith(t) for w in words)]
        near = dict(zip(unknown, cls.neighbour_words(unknown)))
        result = []
        for token, words in zip(tokens, found):
            prefixed = [w for w in words if w.startswith(token)]
            if prefixed:
                result.append(_best(
                        (w, rules.word_score(token, w)) for w in prefixed))
            else:
                result.append(_corrections(token, words, near[token]))
        return result

    @classmethod
    def _words_by_token(cls, queries, tokens):
        """Run queries ([(query, params)]: the words of one token) for every
        token in one statement and return the words of each.  In params
        _TOKEN and _PATTERN stand for the token and its LIKE pattern: each
        token is a constant of its part, which the trigram index serves."""
        cursor = Transaction().connection.cursor()
        found = [[] for _ in tokens]
        if not tokens:
            return found
        parts, values = [], []
        for index, token in enumerate(tokens):
            pattern = token.replace('\\', '\\\\').replace(
                '%', '\\%').replace('_', '\\_') + '%'
            for query, params in queries:
                parts.append(
                    f'(SELECT {index:d}, word FROM ({query}) AS w)')
                values.extend(
                    token if p is _TOKEN else pattern if p is _PATTERN
                    else p for p in params)
        cursor.execute(' UNION ALL '.join(parts), values)
        for index, word in cursor:
            found[index].append(word)
        return found

    @classmethod
    def _all_words(cls):
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.word))
        return [w for w, in cursor]


def _best(scored):
    "Sort (word, score) pairs best first"
    return sorted(scored, key=lambda x: (-x[1], x[0]))


def _corrections(token, words, neighbours=()):
    """The neighbours (words a letter away) and the best
    FUZZY_ALTERNATIVES of words as corrections of token"""
    near = {w: max(rules.word_score(token, w), NEIGHBOUR_SCORE)
        for w in neighbours if not w.startswith(token)}
    scored = ((w, rules.word_score(token, w)) for w in words
        if w not in near)
    return _best(near.items()) + _best(
        x for x in scored if x[1] < 0.9)[:FUZZY_ALTERNATIVES]


# The dictionary queries of one token (see NameWord._words_by_token).
_TOKEN, _PATTERN = object(), object()
_PREFIX_QUERY = (
    'SELECT word FROM "assistance_party_name_word" '
    'WHERE word LIKE %s ORDER BY word LIMIT 50')
# «%» uses pg_trgm.similarity_threshold, 0.3 by default: the index finds
# the candidates, the explicit test keeps ours.
_FUZZY_QUERY = (
    'SELECT word FROM "assistance_party_name_word" '
    'WHERE word %% %s AND similarity(word, %s) >= %s '
    'ORDER BY word <-> %s LIMIT %s')
_FUZZY_PARAMS = (
    _TOKEN, _TOKEN, FUZZY_THRESHOLD, _TOKEN, FUZZY_ALTERNATIVES)


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    identification_name = fields.Char(
        "Name Key", readonly=True,
        help="The name in lower case, with ё as е and Latin look-alike "
        "letters as Cyrillic: what the identification search compares.")
    id_document_key = fields.Char("Identity Document Key", readonly=True)
    current_policy = fields.Function(fields.Many2One(
            'assistance.policy', "Policy",
            help="The policy in force on the identification date, "
            "else the latest one."),
        'get_current_policy')
    current_insurer = fields.Function(fields.Many2One(
            'party.party', "Insurer"), 'get_current_policy')
    current_package = fields.Function(fields.Many2One(
            'assistance.package', "Package"), 'get_current_policy')
    current_programs = fields.Function(fields.Char("Programmes"),
        'get_current_policy')
    current_policy_status = fields.Function(fields.Selection([
                (None, ""),
                ('active', "In force"),
                ('inactive', "Not in force"),
                ], "Policy Status"),
        'get_current_policy')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.identification_name, Index.Equality())),
                Index(t, (t.id_document_key, Index.Equality())),
                Index(t, (t.birth_date, Index.Range())),
                })
        cls.__rpc__.update({
                'identify': RPC(),
                })

    @classmethod
    def __register__(cls, module_name):
        table_h = cls.__table_handler__(module_name)
        filled = table_h.column_exist('identification_name')
        super().__register__(module_name)
        if not filled:
            cls._fill_identification_keys()
        if _is_postgresql():
            cls._create_identification_index()

    @classmethod
    def _create_identification_index(cls):
        """Create (if missing) the index of the words of the names
        (PostgreSQL); a bulk load may drop it and call this after"""
        cursor = Transaction().connection.cursor()
        cursor.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        cursor.execute(
            'CREATE INDEX IF NOT EXISTS party_identification_words '
            'ON "party_party" USING gin '
            '((string_to_array("identification_name", \' \')))')
        cursor.execute(
            'ALTER INDEX party_identification_words '
            f'SET (gin_pending_list_limit = {WORDS_PENDING_LIST_KB})')
        # The beginnings of the name keys: a surname and initials
        # («иванов и% п%»).
        cursor.execute(
            'CREATE INDEX IF NOT EXISTS party_identification_name_prefix '
            'ON "party_party" ("identification_name" varchar_pattern_ops)')

    @classmethod
    def _fill_identification_keys(cls):
        "Compute the keys of the parties created before this module"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id, table.name, table.id_document))
        rows = cursor.fetchall()
        for id_, name, document in rows:
            cursor.execute(*table.update(
                    [table.identification_name, table.id_document_key],
                    [rules.name_key(name), rules.document_key(document)],
                    where=table.id == id_))
        NameWord = Pool().get('assistance.party.name_word')
        NameWord.add_words(name for _, name, _ in rows)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if 'name' in values:
            values['identification_name'] = rules.name_key(values['name'])
        if 'id_document' in values:
            values['id_document_key'] = rules.document_key(
                values['id_document'])
        return values

    @classmethod
    def create(cls, vlist):
        parties = super().create(vlist)
        Pool().get('assistance.party.name_word').add_words(
            v.get('name') for v in vlist)
        return parties

    @classmethod
    def write(cls, *args):
        super().write(*args)
        Pool().get('assistance.party.name_word').add_words(
            values.get('name') for values in args[1::2])

    @classmethod
    def search_rec_name(cls, name, clause):
        domain = super().search_rec_name(name, clause)
        _, operator, value, *_ = clause
        if operator in {'ilike', 'like'} and isinstance(value, str):
            text = value.replace('\\%', '').replace('%', ' ').strip()
            if len(text) >= 3:
                ids = list(cls._identify_scores(
                        iq.parse_query(
                            text, Pool().get('ir.date').today()), 50))
                if ids:
                    domain = ['OR', domain, ('id', 'in', ids)]
        return domain

    @classmethod
    def _identification_date(cls):
        date = Transaction().context.get('identification_date')
        if isinstance(date, str):
            date = dt.date.fromisoformat(date)
        return date or Pool().get('ir.date').today()

    @classmethod
    def get_current_policy(cls, parties, names):
        Policy = Pool().get('assistance.policy')
        date = cls._identification_date()
        current = Policy.current_policies([p.id for p in parties], date)
        result = {n: {} for n in names}
        for party in parties:
            policy, active = current.get(party.id, (None, False))
            values = {
                'current_policy': policy.id if policy else None,
                'current_insurer': (
                    policy.contract.insurer.id if policy else None),
                'current_package': policy.package.id if policy else None,
                'current_programs': (', '.join(
                        p.rec_name for p in policy.package.programs)
                    if policy else None),
                'current_policy_status': (
                    ('active' if active else 'inactive') if policy else None),
                }
            for name in names:
                result[name][party.id] = values[name]
        return result

    @classmethod
    @rpc_access('assistance.policy')
    def identify(cls, text, date=None, limit=20):
        """Find the insured persons an operator's search text may mean.

        Return a list of dicts, the persons with a policy in force on date
        (default today) first, then by how well they match: party, name,
        birth_date, matched (number, phone, document, name, birth_date),
        score, policy, policy_number, active, contract, insurer,
        insurer_name, package, package_name, programs, policy_state,
        start_date, end_date."""
        pool = Pool()
        Policy = pool.get('assistance.policy')
        if isinstance(date, str):
            date = dt.date.fromisoformat(date)
        if date is None:
            date = pool.get('ir.date').today()
        limit = max(1, min(int(limit or 20), 200))
        query = iq.parse_query(text, pool.get('ir.date').today())
        policies = {}
        scores = cls._identify_scores(query, limit, policies)
        # Only the persons and policies the caller's record rules show him.
        readable = readable_ids(cls.__name__, scores)
        scores = {i: s for i, s in scores.items() if i in readable}
        if not scores:
            return []
        policy_rule = rule_query(Policy.__name__)
        if policy_rule is not None:
            policies = Policy.readable_policy_rows(list(scores), policy_rule)
        current = Policy.current_policy_ids(list(scores), date, policies)
        ranked = sorted(scores.items(), key=lambda x: (
                not current.get(x[0], (None, False))[1], -x[1][0], x[0]))
        return cls._identification_results(ranked[:limit], current)

    @classmethod
    def _identify_scores(cls, query, limit, policies=None):
        """Return party id → (score, how it matched) for a parsed query.

        policies, when given, is filled with the policies' rows read on the
        way (see current_policy_ids)."""
        scores = {}

        def add(ids, score, matched):
            for id_ in ids:
                if scores.get(id_, (0,))[0] < score:
                    scores[id_] = (score, matched)
        keys = []
        if query.numbers:
            keys.append(cls._number_query(query.numbers, query.birth_date))
            keys.append(cls._document_query(query.numbers))
        if query.phone:
            keys.append(cls._phone_query(query.phone, query.birth_date))
        if keys:
            # One statement for all the keys: each round trip counts.
            cursor = Transaction().connection.cursor()
            union = Union(*(q.select(q.id, q.matched) for q in keys),
                all_=True)
            cursor.execute(*union)
            weights = {'number': 10, 'phone': 10, 'document': 9}
            for id_, matched in cursor:
                add([id_], weights[matched], matched)
        if query.tokens:
            by_name = cls._identify_by_name(query.tokens,
                query.birth_date, limit, policies, query.initials)
            if not by_name and query.layout_tokens:
                # Typed with the Latin layout on: «Bdfyjd» for «Иванов».
                by_name = cls._identify_by_name(query.layout_tokens,
                    query.birth_date, limit, policies,
                    query.layout_initials)
            if not by_name and query.birth_date:
                # A name too far from any (or the wrong one) and a birth
                # date: the few persons born that day, the closest names
                # first.
                by_name = cls._identify_by_birth_date_name(
                    query.tokens, query.birth_date, limit)
            for id_, score in by_name.items():
                add([id_], score, 'name')
        elif query.birth_date and not scores:
            add(cls._identify_by_birth_date(query.birth_date, limit),
                1, 'birth_date')
        return scores

    @classmethod
    def _number_query(cls, keys, birth_date=None):
        "The query of the insured (id, matched) by policy number keys"
        Policy = Pool().get('assistance.policy')
        policy = Policy.__table__()
        party = cls.__table__()
        where = policy.number_key.in_(list(keys))
        if birth_date:
            where &= party.birth_date == birth_date
        # A policy hidden by a record rule tells nothing of its insured.
        policy_rule = rule_query(Policy.__name__)
        if policy_rule is not None:
            where &= policy.id.in_(policy_rule)
        return policy.join(party,
            condition=policy.insured == party.id).select(
            policy.insured.as_('id'), Literal('number').as_('matched'),
            where=where, limit=CANDIDATES)

    @classmethod
    def _document_query(cls, keys):
        "The query of the persons (id, matched) by identity document keys"
        party = cls.__table__()
        return party.select(
            party.id.as_('id'), Literal('document').as_('matched'),
            where=party.id_document_key.in_(list(keys)), limit=CANDIDATES)

    @classmethod
    def _phone_query(cls, key, birth_date=None):
        "The query of the persons (id, matched) by a phone key"
        Mechanism = Pool().get('party.contact_mechanism')
        mechanism = Mechanism.__table__()
        party = cls.__table__()
        where = mechanism.phone_key == key
        if birth_date:
            where &= party.birth_date == birth_date
        return mechanism.join(party,
            condition=mechanism.party == party.id).select(
            mechanism.party.as_('id'), Literal('phone').as_('matched'),
            where=where, limit=CANDIDATES)

    @classmethod
    def _identify_by_birth_date(cls, birth_date, limit):
        party = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*party.select(party.id,
                where=party.birth_date == birth_date,
                order_by=[party.identification_name], limit=limit))
        return [i for i, in cursor]

    @classmethod
    def _identify_by_birth_date_name(cls, tokens, birth_date, limit):
        """Return party id → score: the persons born on birth_date whose
        names are close enough to the tokens (each token similar to a word
        of the name, or a letter or two away from it)"""
        party = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*party.select(party.id, party.identification_name,
                where=party.birth_date == birth_date,
                limit=BIRTH_DATE_CANDIDATES))
        scored = {}
        for id_, name in cursor:
            words = (name or '').split()
            scores = [max((_loose_score(t, w) for w in words), default=0)
                for t in tokens]
            if scores and min(scores) > 0:
                scored[id_] = 0.8 * sum(scores) / len(tokens)
        best = sorted(scored.items(), key=lambda x: (-x[1], x[0]))
        return dict(best[:limit])

    @classmethod
    def _identify_by_name(cls, tokens, birth_date, limit, policies=None,
            initials=()):
        """Return party id → score for name tokens.

        First with each word as typed (or the words it begins, or else its
        closest corrections); only when nobody is found so, with every
        alternative of every word: the persons found first match better
        than any found by the wider search, and the narrow search reads a
        few hundred index entries where the wide one reads tens of
        thousands."""
        NameWord = Pool().get('assistance.party.name_word')
        tokens = tokens[:4]
        # The corrections are looked up only for the tokens that are no word
        # nor begin one, or when the narrow search finds nobody.
        alternatives = NameWord.lookup(tokens)
        missing = [i for i, a in enumerate(alternatives)
            if a and max(s for _, s in a) < 0.9]
        if not all(alternatives):
            return {}
        closest = [_closest_words(t, a) for t, a in zip(tokens, alternatives)]
        candidates = min(CANDIDATES, NAME_CANDIDATES_PER_RESULT * limit)
        # The names with the words in the order typed first: «Александро
        # Макс» is Александров Максим before Максимов Александр.
        order = _order_pattern(tokens, alternatives)
        found = cls._search_words(closest, birth_date, policies, candidates,
            initials, order)
        if not found:
            others = [i for i in range(len(tokens)) if i not in missing]
            for i, words in zip(others,
                    NameWord.corrections([tokens[i] for i in others])):
                alternatives[i] = alternatives[i] + words
            everything = [[w for w, _ in a] for a in alternatives]
            if everything != closest:
                found = cls._search_words(
                    everything, birth_date, policies, candidates, initials,
                    order)
        # The words found are among the alternatives, already scored.
        scores = [dict(a) for a in alternatives]
        scored = {}
        for id_, name in found.items():
            words = name.split() if name else []
            scored[id_] = sum(
                max((s.get(w, 0) for w in words), default=0)
                for s in scores) / len(tokens)
            # The words in the order typed, from the first one.
            if len(tokens) > 1 and not all(
                    s.get(w) for s, w in zip(scores, words[:len(tokens)])):
                scored[id_] *= OTHER_ORDER
        return scored

    @classmethod
    def _search_words(cls, alternatives, birth_date, policies=None,
            candidates=CANDIDATES, initials=(), order=None):
        """Return party id → name key of the parties whose name has, for
        each token, one of its alternative words, and words beginning with
        the initials in their order (on PostgreSQL, with their policies'
        rows added to policies); those whose name is LIKE order (a
        pattern) first"""
        cursor = Transaction().connection.cursor()
        initials_patterns = []
        if initials:
            # The surname (the first token) first, then the initials of the
            # words after it.  The words are letters (name_key's): nothing
            # to escape.
            gap = ' %' if len(alternatives) > 1 else ''
            rest = ''.join(f' {i}%' for i in initials)
            initials_patterns = [f'{w}{gap}{rest}' for w in alternatives[0]]
        if _is_postgresql():
            where = ' AND '.join(
                'string_to_array("identification_name", \' \') '
                '&& %s::text[]' for _ in alternatives)
            params = [list(a) for a in alternatives]
            if birth_date:
                where += ' AND "birth_date" = %s'
                params.append(birth_date)
            if initials_patterns:
                # The index of the name keys' beginnings serves each one.
                where += ' AND (' + ' OR '.join(
                    '"identification_name" LIKE %s'
                    for _ in initials_patterns) + ')'
                params.extend(initials_patterns)
            order_by = ''
            if order:
                order_by = 'ORDER BY "identification_name" LIKE %s DESC'
                params.append(order)
            # The candidates' policies in the same round trip: the ranking
            # needs them.
            cursor.execute(
                'SELECT c."id", c."identification_name", p."id", '
                'p."state", p."start_date", p."end_date" '
                'FROM (SELECT "id", "identification_name" '
                'FROM "party_party" '
                f'WHERE {where} {order_by} LIMIT {int(candidates)}) AS c '
                'LEFT JOIN "assistance_policy" AS p ON p."insured" = c."id"',
                params, prepare=False)
            found = {}
            if policies is None:
                policies = {}
            for id_, name, policy, state, start, end in cursor:
                found[id_] = name
                rows = policies.setdefault(id_, [])
                if policy is not None:
                    rows.append((id_, policy, state, start, end))
            return found
        party = cls.__table__()
        where = Literal(True)
        for words in alternatives:
            spaced = Concat(Concat(' ', party.identification_name), ' ')
            condition = Literal(False)
            for word in words:
                condition |= spaced.like(f'% {word} %')
            where &= condition
        if birth_date:
            where &= Equal(party.birth_date, birth_date)
        if initials_patterns:
            condition = Literal(False)
            for pattern in initials_patterns:
                condition |= party.identification_name.like(pattern)
            where &= condition
        order_by = []
        if order:
            order_by = [party.identification_name.like(order).desc]
        cursor.execute(*party.select(
                party.id, party.identification_name, where=where,
                order_by=order_by, limit=candidates))
        return dict(cursor)

    @classmethod
    def _identification_results(cls, ranked, current):
        """Return the result dicts of the ranked (party id, (score, matched))
        read with one query: persons, their policy, its programmes"""
        policies = cls._identification_rows(
            [p for p, _ in ranked],
            [current[p][0] for p, _ in ranked
                if current.get(p, (None,))[0]])
        results = []
        for party_id, (score, matched) in ranked:
            policy_id, active = current.get(party_id, (None, False))
            values = policies[party_id]
            result = {
                'party': party_id,
                'name': values['name'],
                'birth_date': values['birth_date'],
                'matched': matched,
                'score': round(score, 3),
                'active': bool(active),
                'policy': None, 'policy_number': None, 'contract': None,
                'insurer': None, 'insurer_name': None, 'package': None,
                'package_name': None, 'programs': [], 'policy_state': None,
                'start_date': None, 'end_date': None,
                }
            if values['policy'] == policy_id and policy_id:
                result.update(values)
            result['name'] = values['name']
            result['birth_date'] = values['birth_date']
            results.append(result)
        return results

    @classmethod
    def _identification_rows(cls, party_ids, policy_ids):
        """Return party id → its name, birth date and the values of its
        policy among policy_ids (with the programmes of its package)"""
        pool = Pool()
        Policy = pool.get('assistance.policy')
        Contract = pool.get('assistance.contract')
        Package = pool.get('assistance.package')
        Program = pool.get('assistance.program')
        PackageProgram = pool.get('assistance.package-assistance.program')
        party, policy = cls.__table__(), Policy.__table__()
        contract, insurer = Contract.__table__(), cls.__table__()
        package, program = Package.__table__(), Program.__table__()
        link = PackageProgram.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*party
            .join(policy, 'LEFT', condition=(policy.insured == party.id)
                & policy.id.in_(policy_ids or [-1]))
            .join(contract, 'LEFT', condition=policy.contract == contract.id)
            .join(insurer, 'LEFT', condition=contract.insurer == insurer.id)
            .join(package, 'LEFT', condition=policy.package == package.id)
            .join(link, 'LEFT', condition=link.package == package.id)
            .join(program, 'LEFT', condition=link.program == program.id)
            .select(party.id, party.name, party.code, party.birth_date,
                policy.id, policy.number, policy.contract, contract.insurer,
                insurer.name, policy.package, package.code, package.name,
                policy.state, policy.start_date, policy.end_date,
                program.code, program.name,
                where=party.id.in_(party_ids or [-1]),
                order_by=[party.id, program.code, program.id]))
        result = {}
        for (party_id, name, code, birth, policy_id, number, contract_id,
                insurer_id, insurer_name, package_id, package_code,
                package_name, state, start, end, program_code,
                program_name) in cursor:
            values = result.get(party_id)
            if values is None:
                values = result[party_id] = {
                    'name': name or f'[{code}]',
                    'birth_date': _date(birth),
                    'policy': policy_id, 'policy_number': number,
                    'contract': contract_id, 'insurer': insurer_id,
                    'insurer_name': insurer_name, 'package': package_id,
                    'package_name': (_node_name(package_code, package_name)
                        if package_id else None),
                    'programs': [],
                    'policy_state': state, 'start_date': _date(start),
                    'end_date': _date(end),
                    }
            if program_name is not None:
                values['programs'].append(
                    _node_name(program_code, program_name))
        return result


def _closest_words(token, alternatives):
    """The words of alternatives ([(word, score)], best first) searched
    first: the word as typed, else the words it begins, else the closest
    corrections: those a letter or two away (a letter replaced, missing,
    doubled or swapped), the fewest first, else the most similar ones"""
    exact = [w for w, s in alternatives if s >= 1]
    if exact:
        return exact
    prefixed = [w for w, s in alternatives if s >= 0.9]
    if prefixed:
        return prefixed
    distances = {w: rules.edit_distance(token, w) for w, _ in alternatives}
    fewest = min(distances.values())
    if fewest <= CLOSE_DISTANCE:
        return [w for w, _ in alternatives
            if distances[w] == fewest][:CLOSE_ALTERNATIVES]
    best = max(s for _, s in alternatives)
    # word_score gives corrections 0.8 × their similarity.
    return [w for w, s in alternatives
        if s >= best - CLOSE_MARGIN * 0.8][:CLOSE_ALTERNATIVES]


def _order_pattern(tokens, alternatives):
    """The LIKE pattern of the names with the words typed in their order
    from the first one (the tokens that are words or begin words; a
    correction stands for any word), or None"""
    if len(tokens) < 2:
        return None
    parts = [t + '%' if any(s >= 0.9 for _, s in a) else '%'
        for t, a in zip(tokens, alternatives)]
    if all(p == '%' for p in parts):
        return None
    # The tokens are letters (name_key's words): nothing to escape.
    return parts[0] + ''.join(' ' + p for p in parts[1:])


def _loose_score(token, word):
    """How well a typed token matches a word of a name known by other
    means (a birth date): word_score, or a correction two letters away"""
    score = rules.word_score(token, word)
    if score >= FUZZY_THRESHOLD * 0.8:
        return score
    if len(token) >= 4 and rules.edit_distance(token, word) <= 2:
        return 0.5
    return 0


def _node_name(code, name):
    "The rec_name of a package or a programme"
    return f'[{code}] {name}' if code else name


class ContactMechanism(metaclass=PoolMeta):
    __name__ = 'party.contact_mechanism'

    phone_key = fields.Char(
        "Phone Key", readonly=True,
        help="The phone as international digits, e.g. 79161234567.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.phone_key, Index.Equality())))

    @classmethod
    def __register__(cls, module_name):
        table_h = cls.__table_handler__(module_name)
        filled = table_h.column_exist('phone_key')
        super().__register__(module_name)
        if not filled:
            table = cls.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.select(table.id, table.value,
                    where=table.type.in_(['phone', 'mobile'])))
            for id_, value in cursor.fetchall():
                cursor.execute(*table.update(
                        [table.phone_key], [rules.phone_key(value)],
                        where=table.id == id_))

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if 'value' in values or 'type' in values:
            type_ = values.get('type')
            if type_ in {'phone', 'mobile'} or (
                    type_ is None and 'value' in values):
                values['phone_key'] = rules.phone_key(values.get('value'))
            elif 'type' in values:
                values['phone_key'] = None
        return values


class Policy(metaclass=PoolMeta):
    __name__ = 'assistance.policy'

    number_key = fields.Char("Number Key", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.number_key, Index.Similarity(begin=True))))
        # «ДМС 001», «ДМС-001» and «дмс001» are one number in a contract.
        cls._sql_constraints = [
            c for c in cls._sql_constraints if c[0] != 'contract_number_uniq'
            ] + [
            ('contract_number_key_uniq', Unique(t, t.contract, t.number_key),
                'assistance_policy.msg_policy_number_unique'),
            ]

    @classmethod
    def __register__(cls, module_name):
        table_h = cls.__table_handler__(module_name)
        filled = table_h.column_exist('number_key')
        super().__register__(module_name)
        table_h.drop_constraint('contract_number_uniq')
        if not filled:
            table = cls.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.select(table.id, table.number))
            for id_, number in cursor.fetchall():
                cursor.execute(*table.update(
                        [table.number_key], [rules.number_key(number)],
                        where=table.id == id_))

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if 'number' in values:
            values['number_key'] = rules.number_key(values['number'])
        return values

    @classmethod
    def current_policies(cls, insured_ids, date):
        """Return insured id → (policy, in force): the policy in force on
        date (the latest period first), else the latest policy"""
        return {insured: (cls(id_) if id_ else None, active)
            for insured, (id_, active) in cls.current_policy_ids(
                insured_ids, date).items()}

    @classmethod
    def readable_policy_rows(cls, insured_ids, query):
        """Return insured id → the rows (as current_policy_ids knows them) of
        its policies among the ids of query, one entry for each insured"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        rows = {i: [] for i in insured_ids}
        for sub in rules.chunks(insured_ids, 1000):
            cursor.execute(*table.select(
                    table.insured, table.id, table.state, table.start_date,
                    table.end_date,
                    where=table.insured.in_(sub) & table.id.in_(query)))
            for row in cursor:
                rows[row[0]].append(row)
        return rows

    @classmethod
    def current_policy_ids(cls, insured_ids, date, known=None):
        """Like current_policies with ids, read with one query.

        known maps insured ids to their policies' rows (insured, id, state,
        start date, end date) already read: those are not read again."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        result = {}
        known = known or {}
        rows = [r for i in insured_ids for r in known.get(i, [])]
        insured_ids = [i for i in insured_ids if i not in known]
        # grouped_slice without a size would query insured by insured.
        for sub in rules.chunks(insured_ids, 1000):
            cursor.execute(*table.select(
                    table.insured, table.id, table.state, table.start_date,
                    table.end_date,
                    where=table.insured.in_(sub)))
            rows.extend(cursor)
        rows.sort(key=lambda r: (r[0], str(r[3]), r[1]), reverse=True)
        for insured, group in groupby(rows, key=lambda r: r[0]):
            group = [(id_, state, _date(start), _date(end))
                for _, id_, state, start, end in group]
            active = [g for g in group
                if g[1] == 'active' and g[2] <= date <= g[3]]
            if active:
                result[insured] = (active[0][0], True)
            else:
                usable = [g for g in group if g[1] != 'cancelled']
                result[insured] = ((usable or group)[0][0], False)
        return result


def _date(value):
    "Dates read by SQL (SQLite returns text)"
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


class IdentifyStart(ModelView):
    "Identification of the insured person"
    __name__ = 'assistance.identification.start'

    text = fields.Char(
        "Search",
        help="Policy number, full name or part of it (typos are tolerated), "
        "birth date (dd.mm.yyyy) or phone in any format.")
    date = fields.Date(
        "Date", required=True,
        help="The date on which the policy must be in force.")
    candidates = fields.Many2Many(
        'party.party', None, None, "Insured Persons", readonly=True,
        context={
            'identification_date': Eval('date'),
            },
        depends=['date'],
        help="The persons found, those with a policy in force first.")

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @fields.depends('text', 'date')
    def on_change_with_candidates(self):
        Party = Pool().get('party.party')
        if not self.text or len(self.text.strip()) < 2:
            return []
        return [c['party'] for c in Party.identify(self.text, self.date)]


class Identify(Wizard):
    "Identify the insured person"
    __name__ = 'assistance.identification'

    start = StateView('assistance.identification.start',
        'assistance_policy.identification_start_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])
