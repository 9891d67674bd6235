"""`hackbot demo` runs the real bot against the sandbox and tells a readable story."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.demo import run_demo
from bot.transcript import Renderer


async def test_demo_runs_and_reads_well_in_french(openapi_validator):
    lines: list[str] = []
    code = await run_demo(lang="fr", out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    headings = [lines[i - 1] for i, line in enumerate(lines) if line and set(line) == {"─"}]
    numbered = [h for h in headings if h[0].isdigit()]
    assert [int(h.split(".")[0]) for h in numbered] == list(range(1, len(numbered) + 1))
    assert numbered[0] == "1. Le bot arrive sur le serveur"
    assert "▶ Camille tape /a-propos" in text
    assert "Nous sommes dans l'étape Inscriptions. Elle se termine dans 2 heures." in text
    assert "▶ Sam tape /about" in text  # Sam's client is in English
    assert "0 délai(s) de 3 secondes dépassé(s)" in text
    assert "<t:" not in text and "</" not in text  # Discord markup is rendered for the terminal
    assert "Démo terminée : tout ce que Discord a reçu était valide." in text
    # A registration rush: everyone answered at once and told when their role comes; the
    # roles follow at Discord's pace (compressed, and the narration says so); all arrive.
    rush = text[text.index("3. Une vague d'inscriptions") : text.index("\n4. ")]
    assert "40 autres personnes tapent /inscription" in rush
    assert re.search(
        r"│ (Votre accès aux salons des participants arrive|Your access to the participant channels arrives) ",
        rush,
    ), rush
    assert "Discord ne laisse un bot changer qu'environ 10 rôles toutes les 10 secondes" in rush
    assert "Ici, le temps est accéléré ×10" in rush
    measured = re.search(
        r"le dernier rôle est arrivé (\d+),(\d) s plus tard \(on avait annoncé à .+ « (.+) »\)",
        rush,
    )
    assert measured, rush
    assert float(f"{measured[1]}.{measured[2]}") < 15
    assert measured[3] in ("dans quelques secondes", "in a few seconds")
    assert "40 sur 40 ont maintenant le rôle Participant." in rush
    assert "la dernière personne lirait que son accès arrive « dans environ 5 min »" in rush
    # The timeline scene: reminders once each, the extension, the phase change, a broadcast.
    assert "▶ Camille tape /programme" in text
    assert text.count("⏰ Échéance dans 1 heure") == 1
    assert text.count("⏰ Échéance dans 15 minutes") == 1
    assert "L'étape Hacking est prolongée de 30 minutes" in text
    assert "▶️ L'étape Jury commence maintenant" in text
    assert "Terminé : 1 sur 1 livrés, 0 en échec." in text
    # Registration and teams: the form, a join request accepted, automatic formation.
    assert "Un formulaire s'ouvre pour Camille" in text
    assert "@Sam a rejoint l'équipe (Camille a accepté)." in text
    assert "100 % des équipes mêlent au moins deux types de profil" in text
    assert "Terminé : 2 équipe(s) formée(s) ou complétée(s), chacune avec son espace." in text
    # The problem-statement funnel: submitted, curated, promoted to a challenge with its channel.
    assert "Des problèmes aux défis" in text and "🔁 N°2 marquée comme doublon de la n°1." in text
    assert "Défi Santé des aînés isolés créé : #sante-des-aines-isoles." in text

    # Mentor help: the right mentor paged, one claim wins, access follows the ticket, a rating.
    assert "Appelés : Hugo, Priya (les mentors de permanence qui connaissent python" in text
    assert text.count("Vous avez pris la n°1") + text.count("You took #1") == 1
    assert text.count("a déjà pris la n°1.") + text.count("already took #1.") == 1
    assert "voit maintenant #les-herons : oui." in text
    assert "Accès de" in text and "à #les-herons : non." in text
    assert "Merci, votre commentaire est enregistré." in text
    assert "attend depuis 20 min et aucun mentor ne l'a prise. @Orga" in text
    # Submissions, judging and the winners: a bad link refused, a receipt, a ceremony, an export.
    assert "« Dépôt du code (lien) » doit commencer par https:// (ou http://)" in text
    assert "✅ Soumis pour Les Hérons : version 1, reçue le" in text
    assert "📬 Soumission reçue : version 1, le" in text
    assert "2 projets · 4 avis · 2 jurés" in text
    assert "🏆 Lauréat 2 sur 2 · Classement général · 🥇 1ʳᵉ place" in text
    assert "• submissions.csv : 2 lignes" in text


def test_renderer_turns_discord_markup_into_text():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    fr = Renderer("fr", ZoneInfo("Europe/Paris"), now, names={42: "Camille"})
    en = Renderer("en", ZoneInfo("Europe/Paris"), now)
    two_hours = int(now.timestamp()) + 7200
    assert fr.text(f"Fin <t:{two_hours}:R>") == "Fin dans 2 heures"
    assert en.text(f"Ends <t:{two_hours - 7200 - 90}:R>") == "Ends 2 minutes ago"
    assert fr.text(f"<t:{two_hours}:F>") == "dimanche 1er mars 2026 15:00"
    assert fr.text("</team create:123> pour <@42>") == "/equipe creer pour @Camille"
    assert en.text("**bold**") == "bold"
