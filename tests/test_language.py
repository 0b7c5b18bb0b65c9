"""Questions in a language the model does not read are declined, naming it; English ones never are."""

from __future__ import annotations

import json

import pytest

from qa.language import unsupported_language
from tests.conftest import EVAL

FOREIGN = [
    ("岩屋外務大臣はロシアへの入国を禁止されましたか？", "Japanese"),
    ("岩屋毅は誰ですか", "Japanese"),
    ("Iwayaは何と言いましたか", "Japanese"),
    ("俄罗斯禁止了哪些日本公民入境？", "Chinese"),
    ("러시아는 어떤 일본 시민의 입국을 금지했습니까?", "Korean"),
    ("Какие японские граждане получили запрет на въезд в Россию?", "Russian"),
    ("Что такое Iwaya ban?", "Russian"),
    ("Хто такий Іваї?", "Ukrainian"),
    ("ما هو سبب حظر روسيا لوزير الخارجية الياباني؟", "Arabic"),
    ("چرا روسیه وزیر خارجه ژاپن را ممنوع کرد؟", "Persian"),
    ("Ποιος είναι ο υπουργός εξωτερικών της Ιαπωνίας;", "Greek"),
    ("מי הוא שר החוץ של יפן?", "Hebrew"),
    ("รัสเซียห้ามใครเข้าประเทศ", "Thai"),
    ("रूस ने किन जापानी नागरिकों पर प्रतिबंध लगाया?", "Devanagari script"),
    ("Qui est le ministre des affaires étrangères du Japon ?", "French"),
    ("Pourquoi la Russie a-t-elle interdit l'entrée à Iwaya ?", "French"),
    ("Qu'est-ce que la Russie a fait ?", "French"),
    ("Wer ist der japanische Außenminister?", "German"),
    ("Warum hat Russland Iwaya die Einreise verboten?", "German"),
    ("¿Quién es el ministro de Asuntos Exteriores de Japón?", "Spanish"),
    ("Chi è il ministro degli esteri giapponese?", "Italian"),
    ("Perché la Russia ha vietato l'ingresso a Iwaya?", "Italian"),
    ("Quem é o ministro das Relações Exteriores do Japão?", "Portuguese"),
    ("Waarom heeft Rusland Iwaya verboden?", "Dutch"),
    ("Kto jest ministrem spraw zagranicznych Japonii?", "Polish"),
    ("Dlaczego Rosja zakazała wjazdu Iwayi?", "Polish"),
]

ENGLISH = [
    "Who is Takaichi?",
    "How many Japanese citizens did Russia ban in March 2025?",
    "Iwaya ban 2025",
    "Iwaya",
    "ban",
    "2025",
    "9",
    "",
    "?!",
    "Lavrov's ban",
    "Lavrov’s ban on Japanese officials",
    "Who is José María Aznar?",
    "Which country did Nguyễn Phú Trọng lead?",
    "Why did Erdoğan visit Türkiye?",
    "Lech Wałęsa Łódź",
    "Ursula von der Leyen",
    "Le Pen",
    "Jean-Marie Le Pen et la France",
    "Lake Como",
    "Que sera sera",
    "Who wrote 'Que sera, sera'?",
    "Who said 'c'est la vie'?",
    "What is the Bundesrat für Umwelt?",
    "Ist Iwaya",
    "Des Moines caucus results",
    "How many ha of forest burned?",
    "Who is 岩屋毅?",
    "What did Лавров say about the ban?",
    "What does the Greek letter π mean?",
    "IWAYA BAN",
    "Kuril Islands dispute",
    "Die Hard release date",
    "Was Iwaya banned?",
    "El Niño 2023",
]


@pytest.mark.parametrize(("question", "language"), FOREIGN)
def test_other_languages_are_declined_naming_the_language(question, language):
    message = unsupported_language(question)
    assert message is not None, question
    assert "English" in message and f"looks like {language})" in message
    assert "\n" not in message


@pytest.mark.parametrize("question", ENGLISH)
def test_english_questions_names_and_keyword_queries_pass(question):
    assert unsupported_language(question) is None


def test_no_squad_question_is_declined():
    """22,000 English questions about people and places everywhere: not one is mistaken for another language."""
    declined = []
    for path in (EVAL / "squad-v1.1-dev" / "questions.jsonl", EVAL / "squad-v2.0-dev" / "questions.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            question = json.loads(line)["question"]
            if unsupported_language(question):
                declined.append(question)
    assert declined == []
