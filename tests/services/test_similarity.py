"""Duplicate suggestions: folded French/English text, TF-IDF cosine, incremental updates."""

from __future__ import annotations

import random

from bot.services.similarity import SimilarityIndex, fold, stem, terms


def test_folding_removes_accents_case_and_ligatures() -> None:
    assert fold("Électricité ŒUVRE Ça") == "electricite oeuvre ca"


def test_terms_drop_stop_words_in_both_languages_and_stem_plurals() -> None:
    assert terms("Les personnes âgées et the elderly people") == ["personn", "agee", "elderly"]
    assert terms("hôpitaux") == terms("hopitaux") == [stem("hopitaux")]
    assert terms("masks") == terms("mask")


def test_the_same_problem_written_differently_is_the_best_match() -> None:
    index = SimilarityIndex()
    index.add(
        1,
        "Accès aux soins pour les personnes âgées isolées",
        "Les aînés ne voient plus leur médecin",
    )
    index.add(2, "Livraison de courses", "Les bénévoles livrent les courses aux voisins")
    index.add(3, "School homework at a distance", "Children cannot do their homework online")
    found = index.similar_to_text("acces au soin des personnes agees", "medecin trop loin")
    assert [m.doc_id for m in found][:1] == [1]
    assert 0 < found[0].score <= 1
    assert all(m.doc_id != 2 for m in found)


def test_a_document_is_not_its_own_duplicate_and_scores_are_ranked() -> None:
    index = SimilarityIndex()
    index.add(1, "masques pour soignants", "fabriquer des masques")
    index.add(2, "masques pour les soignants", "coudre des masques en tissu")
    index.add(3, "masques", "")
    index.add(4, "vélo", "réparer des vélos")
    found = index.similar_to(1, min_score=0.0)
    ids = [m.doc_id for m in found]
    assert 1 not in ids and 4 not in ids
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)


def test_among_and_exclude_filter_and_remove_forgets() -> None:
    index = SimilarityIndex()
    for i in range(1, 5):
        index.add(i, "eau potable au village", f"puits numéro {i}")
    assert {m.doc_id for m in index.similar_to(1, among={2, 3})} == {2, 3}
    assert 2 not in {m.doc_id for m in index.similar_to_text("eau potable", exclude=[2])}
    index.remove(2)
    assert 2 not in index and len(index) == 3
    assert 2 not in {m.doc_id for m in index.similar_to(1)}


def test_incremental_adds_agree_with_a_full_rebuild() -> None:
    rng = random.Random(5)
    words = "eau energie ecole sante transport logement donnees velo masque aide voisin".split()
    docs = [
        (i, " ".join(rng.choices(words, k=3)), " ".join(rng.choices(words, k=20)))
        for i in range(200)
    ]
    incremental = SimilarityIndex()
    incremental.add_many(docs[:190])
    incremental.similar_to(0)  # weights computed: the next adds are incremental
    incremental.add_many(docs[190:])
    full = SimilarityIndex()
    full.add_many(docs)
    for doc_id in (195, 199):
        a = [m.doc_id for m in incremental.similar_to(doc_id, limit=3, min_score=0.0)]
        b = [m.doc_id for m in full.similar_to(doc_id, limit=3, min_score=0.0)]
        assert len(set(a) & set(b)) >= 2


def test_an_empty_or_stop_word_only_query_finds_nothing() -> None:
    index = SimilarityIndex()
    index.add(1, "the and les", "")
    index.add(2, "eau", "")
    assert index.similar_to_text("de la the") == []
    assert index.similar_to(1) == []
    assert SimilarityIndex().similar_to_text("eau") == []
