"""The knowledge base's request models, encryption and chunking, and its passages for search."""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chatflow.ai.bm25 import Passage
from majlis.ai.text import Language, tokenize
from majlis.crypto import FieldCipher

ENTRY_FIELD = "knowledge_entries.content"
TITLE_FIELD = "knowledge_documents.title"
TEXT_FIELD = "knowledge_documents.text"
CHUNK_CHARS = 700
MAX_DOCUMENT_CHARS = 200_000
_SENTENCE_END = re.compile(r"(?<=[.!?؟\n])\s+")


def _clean(value: str) -> str:
    return value.strip()


class Answers(BaseModel):
    """An FAQ answer in Arabic and/or English."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ar: str | None = Field(default=None, min_length=1, max_length=4000)
    en: str | None = Field(default=None, min_length=1, max_length=4000)

    @model_validator(mode="after")
    def _at_least_one(self) -> Answers:
        if not (self.ar and self.ar.strip()) and not (self.en and self.en.strip()):
            raise ValueError("an answer in ar or en is required")
        return self

    def by_language(self) -> dict[Language, str]:
        """The non-empty answers by language."""
        out: dict[Language, str] = {}
        if self.ar and self.ar.strip():
            out["ar"] = self.ar.strip()
        if self.en and self.en.strip():
            out["en"] = self.en.strip()
        return out


class EntryBody(BaseModel):
    """`POST/PUT /api/v1/knowledge/entries`: the questions it answers and the answer."""

    model_config = ConfigDict(extra="forbid")

    questions: list[str] = Field(min_length=1, max_length=20)
    answer: Answers

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[str]) -> list[str]:
        cleaned = [q.strip() for q in value]
        if any(not q or len(q) > 500 for q in cleaned):
            raise ValueError("each question has 1 to 500 characters")
        return cleaned


class DocumentBody(BaseModel):
    """`POST/PUT /api/v1/knowledge/documents`: a titled text in one language."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    language: Language
    text: str = Field(min_length=1, max_length=MAX_DOCUMENT_CHARS)

    @field_validator("title", "text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


def chunk_text(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Passages of at most about `limit` characters, cut at paragraphs, then sentences."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= limit:
            pieces.append(paragraph)
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            while len(sentence) > limit:  # one very long sentence: cut at a space
                cut = sentence.rfind(" ", 0, limit)
                cut = cut if cut > limit // 2 else limit
                pieces.append(sentence[:cut].strip())
                sentence = sentence[cut:]
            if sentence.strip():
                pieces.append(sentence.strip())
    chunks: list[str] = []
    for piece in pieces:  # small neighbours share a chunk
        if chunks and len(chunks[-1]) + len(piece) + 1 <= limit:
            chunks[-1] = f"{chunks[-1]}\n{piece}"
        else:
            chunks.append(piece)
    return chunks


def seal_entry(cipher: FieldCipher, tenant_id: UUID, body: EntryBody) -> bytes:
    """The entry's questions and answers, encrypted."""
    content = {"questions": body.questions, "answers": body.answer.by_language()}
    return cipher.encrypt(json.dumps(content, ensure_ascii=False), tenant_id=tenant_id,
                          field=ENTRY_FIELD)  # fmt: skip


def open_entry(cipher: FieldCipher, tenant_id: UUID, sealed: bytes) -> dict[str, Any]:
    """The decrypted {"questions": [...], "answers": {...}} of an entry."""
    content: dict[str, Any] = json.loads(
        cipher.decrypt_text(sealed, tenant_id=tenant_id, field=ENTRY_FIELD)
    )
    return content


def entry_passage(entry_id: UUID, content: dict[str, Any]) -> Passage:
    """An entry as one passage: its questions count twice, they say what it is about."""
    questions = " ".join(content["questions"])
    answers: dict[Language, str] = dict(content["answers"])
    tokens = tokenize(questions) * 2 + [t for a in answers.values() for t in tokenize(a)]
    return Passage("entry", entry_id, 0, answers, tuple(tokens))


def document_passages(
    document_id: UUID, title: str, language: Language, text: str
) -> list[Passage]:
    """A document's chunks as passages, each searchable by the title too."""
    title_tokens = tokenize(title)
    return [
        Passage("document", document_id, n, {language: chunk}, (*title_tokens, *tokenize(chunk)))
        for n, chunk in enumerate(chunk_text(text))
    ]
