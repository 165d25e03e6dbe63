"""`lda`: latent Dirichlet allocation, a topic model of documents as bags of words (Blei, Ng & Jordan 2003),
fitted by scikit-learn's LatentDirichletAllocation (batch variational Bayes, Hoffman et al. 2010).

The generative story: for each document, a topic mixture theta ~ Dir(alpha); for each word, a topic
z ~ Cat(theta), then the word w ~ Cat(beta_z), where each topic beta_k is a distribution over words
(the posterior mean lambda_k / sum_w lambda_kw of the fitted Dirichlet lambda). `sample` follows it.

Data: a bag-of-words kind would be one more data kind for one family, so `lda` takes the `tokens` kind
(a character stream) and builds its own word counts inside `fit`: documents are the spans between
`TokenData.doc_starts` (the scenes of shakespeare, the files of text:PATH; blank-line paragraphs when there
are none); words are runs of 2 to 16 letters, lower-cased, without English and early-modern stop words,
and without speaker lines (a line of at most four words ending in ":", e.g. "ROMEO:"); scikit-learn's
CountVectorizer keeps the `max_words` most frequent words found in >= min_df and <= max_df of the
documents. The vocabulary is stored as UTF-8 bytes in a buffer, so a run's checkpoint holds everything.

Held-out perplexity (`heldout_metrics`) is by document completion (Wallach et al. 2009, "Evaluation methods
for topic models"): theta of a held-out document is inferred from the first half of its words and the
second half is scored, exp(-sum log p(w | theta, beta) / N), beside the add-one unigram of the training
words on the same words. Words outside the vocabulary are counted and left out of both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import torch

from genlab.config import bounded
from genlab.data.base import DataSpec
from genlab.models.base import GenerativeModel, Samples

WORD = re.compile(r"\b[^\W\d_]{2,16}\b")
WORD_BYTES = 64  # 16 letters of up to 4 UTF-8 bytes
SPEAKER_LINE = re.compile(r"^\s*\S+(?:\s+\S+){0,3}:\s*$")
EARLY_MODERN = frozenset(
    "thou thee thy thine thyself ye hath doth dost art hast shalt wilt wert hadst didst canst couldst wouldst "
    "shouldst mayst tis twas ay nay yea ah oh ll st th en em er ere shall upon".split())


def stop_words() -> frozenset[str]:
    """scikit-learn's English stop words and the early-modern ones above."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | EARLY_MODERN


def words(text: str, stop: frozenset[str] = frozenset()) -> list[str]:
    """The lower-cased words of `text` in order, without speaker lines and `stop` words."""
    kept = "\n".join(line for line in text.splitlines() if not SPEAKER_LINE.match(line))
    return [w for w in (m.group(0).lower() for m in WORD.finditer(kept)) if w not in stop]


def documents(data: Any) -> list[str]:
    """The texts of the documents of a TokenData: spans between doc_starts, else blank-line paragraphs."""
    if data.doc_starts is not None and len(data.doc_starts):
        bounds = sorted(set(int(s) for s in data.doc_starts.tolist()) | {len(data)})
        texts = [data.text(a, b) for a, b in zip(bounds, bounds[1:])]
    else:
        texts = data.text().split("\n\n")
    return [t for t in texts if t.strip()]


def sample_dirichlet(alpha: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """(n, K) draws from Dir(alpha) through Gamma variables (Marsaglia & Tsang 2000, with the a < 1 boost
    G(a) = G(a + 1) U^(1/a)), in log space so tiny alphas do not underflow; float64."""
    a = alpha.double().expand(n, -1)
    boost = a < 1
    d = torch.where(boost, a + 1, a) - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    log_g = torch.zeros_like(a)
    todo = torch.ones_like(a, dtype=torch.bool)
    while todo.any():
        x = torch.randn(a.shape, generator=generator, dtype=torch.float64, device=a.device)
        u = torch.rand(a.shape, generator=generator, dtype=torch.float64, device=a.device)
        v = (1 + c * x) ** 3
        ok = todo & (v > 0) & (u.log() < 0.5 * x * x + d - d * v + d * v.clamp_min(1e-300).log())
        log_g = torch.where(ok, (d * v.clamp_min(1e-300)).log(), log_g)
        todo &= ~ok
    u = torch.rand(a.shape, generator=generator, dtype=torch.float64, device=a.device).clamp_min(1e-300)
    log_g = torch.where(boost, log_g + u.log() / a, log_g)
    return log_g.softmax(-1)


@dataclass(frozen=True)
class LDAConfig:
    """Options of `lda`.

    Args:
        topics: K, the number of topics.
        max_words: the vocabulary: the most frequent words kept (also the size of the stored buffers).
        min_df: a word must occur in at least this many documents.
        max_df: and in at most this fraction of them (drops words every scene uses).
        iterations: passes of batch variational Bayes (scikit-learn's max_iter).
        doc_topic_prior: alpha of Dir(alpha) over topic mixtures (0 = 1 / topics, scikit-learn's default).
        topic_word_prior: eta of the Dirichlet over each topic's words (0 = 1 / topics).
    """

    topics: int = bounded(10, ge=1)
    max_words: int = bounded(5000, ge=2)
    min_df: int = bounded(2, ge=1)
    max_df: float = bounded(0.5, gt=0.0, le=1.0)
    iterations: int = bounded(30, ge=1)
    doc_topic_prior: float = bounded(0.0, ge=0.0)
    topic_word_prior: float = bounded(0.0, ge=0.0)


class LDA(GenerativeModel):
    """A topic model fitted once (`fit`); samples bags of words as text; topic mixtures of documents."""

    family: ClassVar[str] = "lda"
    Config: ClassVar[type] = LDAConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"tokens"})

    def __init__(self, config: LDAConfig, spec: DataSpec):
        super().__init__(config, spec)
        K, V = config.topics, config.max_words
        self.register_buffer("lam", torch.zeros(K, V, dtype=torch.float64))  # the fitted Dirichlet of each topic
        self.register_buffer("word_counts", torch.zeros(V, dtype=torch.float64))  # training counts per word
        self.register_buffer("word_bytes", torch.zeros(V, WORD_BYTES, dtype=torch.uint8))  # the vocabulary
        self.register_buffer("n_words", torch.zeros((), dtype=torch.int64))
        self.register_buffer("alpha", torch.full((), 1.0 / K, dtype=torch.float64))
        self.register_buffer("eta", torch.full((), 1.0 / K, dtype=torch.float64))
        self._vocab: list[str] | None = None

    # --- fitting --------------------------------------------------------------------------------
    def fit(self, data: Any, *, generator: torch.Generator | None = None, time_budget: float = 0.0) -> dict:
        """Count the words of the documents of `data` (TokenData) and fit the topics with scikit-learn."""
        from sklearn.decomposition import LatentDirichletAllocation
        from sklearn.feature_extraction.text import CountVectorizer

        cfg = self.config
        docs = documents(data)
        if len(docs) < 2:
            raise ValueError(f"lda needs several documents; {data.name} has {len(docs)}: give data with document "
                             "starts (scenes, files of text:PATH) or blank-line paragraphs")
        vec = CountVectorizer(analyzer=partial(words, stop=stop_words()), max_features=cfg.max_words,
                              min_df=cfg.min_df, max_df=cfg.max_df)
        try:
            X = vec.fit_transform(docs)
        except ValueError as e:
            raise ValueError(f"lda: no words left in {data.name} after dropping stop words and rare or common "
                             f"ones (min_df {cfg.min_df}, max_df {cfg.max_df}): {e}") from None
        vocab = [str(w) for w in vec.get_feature_names_out()]
        seed = 0 if generator is None else int(torch.randint(0, 2**31 - 1, (1,), generator=generator,
                                                             device=generator.device))
        lda = LatentDirichletAllocation(cfg.topics, doc_topic_prior=cfg.doc_topic_prior or None,
                                        topic_word_prior=cfg.topic_word_prior or None, learning_method="batch",
                                        max_iter=cfg.iterations, random_state=seed)
        lda.fit(X)
        V = len(vocab)
        self.lam.zero_()
        self.lam[:, :V] = torch.from_numpy(lda.components_).to(self.lam)
        self.word_counts.zero_()
        self.word_counts[:V] = torch.from_numpy(X.sum(0).A1.astype("float64")).to(self.word_counts)
        self.word_bytes.zero_()
        for i, w in enumerate(vocab):
            b = w.encode("utf-8")
            self.word_bytes[i, :len(b)] = torch.tensor(list(b), dtype=torch.uint8)
        self.n_words.fill_(V)
        self.alpha.fill_(lda.doc_topic_prior_)
        self.eta.fill_(lda.topic_word_prior_)
        self._vocab = None
        return {"documents": len(docs), "words": V, "word_tokens": int(X.sum()), "iterations": int(lda.n_iter_),
                "train_bound_perplexity": float(lda.perplexity(X))}

    # --- what was learned -------------------------------------------------------------------------
    def vocabulary(self) -> list[str]:
        """The words, in column order of `topic_word` (empty before fit)."""
        if self._vocab is None or len(self._vocab) != int(self.n_words):
            rows = self.word_bytes[: int(self.n_words)].cpu().numpy()
            self._vocab = [bytes(r).rstrip(b"\0").decode("utf-8") for r in rows]
        return self._vocab

    def _load_from_state_dict(self, *args, **kwargs):  # the cached word list belongs to the old buffers
        self._vocab = None
        super()._load_from_state_dict(*args, **kwargs)

    def topic_word(self) -> torch.Tensor:
        """(K, V) each topic's distribution over the vocabulary (rows sum to 1)."""
        lam = self.lam[:, : int(self.n_words)]
        return lam / lam.sum(1, keepdim=True).clamp_min(1e-300)

    def top_words(self, k: int = 10) -> list[list[str]]:
        """The k most probable words of each topic."""
        vocab = self.vocabulary()
        if not vocab:
            return [[] for _ in range(self.config.topics)]
        idx = self.topic_word().topk(min(k, len(vocab)), dim=1).indices
        return [[vocab[int(i)] for i in row] for row in idx]

    def counts(self, texts: list[str]) -> torch.Tensor:
        """(D, V) float64 counts of the vocabulary's words in each text (other words are ignored)."""
        index = {w: i for i, w in enumerate(self.vocabulary())}
        out = torch.zeros(len(texts), len(index), dtype=torch.float64)
        stop = stop_words()
        for d, text in enumerate(texts):
            for w in words(text, stop):
                if w in index:
                    out[d, index[w]] += 1
        return out.to(self.lam.device)

    @torch.no_grad()
    def infer(self, counts: torch.Tensor, *, iterations: int = 100, tol: float = 1e-3) -> torch.Tensor:
        """(D, K) variational Dirichlet parameters gamma of documents' topic mixtures given their counts (D, V):
        the E-step of Hoffman et al. 2010 (as scikit-learn's transform), gamma = alpha + exp(E log theta) *
        ((n / phi_norm) exp(E log beta)^T), iterated until the mean change is below tol."""
        lam = self.lam[:, : int(self.n_words)]
        exp_beta = (torch.digamma(lam) - torch.digamma(lam.sum(1, keepdim=True))).exp()  # (K, V)
        gamma = torch.ones(counts.shape[0], lam.shape[0], dtype=torch.float64, device=lam.device)
        for _ in range(iterations):
            exp_theta = (torch.digamma(gamma) - torch.digamma(gamma.sum(1, keepdim=True))).exp()  # (D, K)
            norm = exp_theta @ exp_beta + 1e-100  # (D, V)
            new = self.alpha + exp_theta * ((counts / norm) @ exp_beta.T)
            done = (new - gamma).abs().mean() < tol
            gamma = new
            if done:
                break
        return gamma

    def topic_mixture(self, texts: list[str]) -> torch.Tensor:
        """(D, K) the expected topic mixture E[theta] of each text (rows sum to 1)."""
        gamma = self.infer(self.counts(texts))
        return gamma / gamma.sum(1, keepdim=True)

    @torch.no_grad()
    def heldout_metrics(self, data: Any) -> dict[str, float]:
        """Document-completion perplexity per word of the documents of `data` beside the add-one unigram of
        the training words (module docstring)."""
        vocab = self.vocabulary()
        if not vocab:
            raise ValueError("this lda model is not fitted yet; fit it (genlab train lda ...) first")
        index = {w: i for i, w in enumerate(vocab)}
        stop = stop_words()
        beta = self.topic_word()
        V, N_train = len(vocab), float(self.word_counts.sum())
        log_unigram = ((self.word_counts[:V] + 1) / (N_train + V)).log()
        lda_nats = uni_nats = 0.0
        scored = oov = docs = 0
        for text in documents(data):
            ws = words(text, stop)
            ids = [index[w] for w in ws if w in index]
            oov += len(ws) - len(ids)
            if len(ids) < 2:
                continue
            half = len(ids) // 2
            first = torch.zeros(1, V, dtype=torch.float64, device=beta.device)
            first[0].index_add_(0, torch.tensor(ids[:half], device=beta.device),
                                torch.ones(half, dtype=torch.float64, device=beta.device))
            gamma = self.infer(first)
            theta = gamma / gamma.sum(1, keepdim=True)  # (1, K)
            rest = torch.tensor(ids[half:], device=beta.device)
            lda_nats -= float((theta @ beta[:, rest]).log().sum())
            uni_nats -= float(log_unigram[rest].sum())
            scored += len(rest)
            docs += 1
        if not scored:
            raise ValueError(f"no held-out document of {data.name} has two words of the model's vocabulary")
        return {"perplexity": math.exp(lda_nats / scored), "unigram_perplexity": math.exp(uni_nats / scored),
                "nats_per_word": lda_nats / scored, "unigram_nats_per_word": uni_nats / scored,
                "documents": docs, "words_scored": scored, "out_of_vocabulary": oov}

    # --- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_words(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None,
                     words: int = 30) -> list[list[str]]:
        """n bags of `words` words from the generative story; `cond` is a topic mixture (K,) or (n, K) to use
        instead of drawing theta ~ Dir(alpha)."""
        vocab = self.vocabulary()
        if not vocab:
            raise ValueError("this lda model is not fitted yet; fit it (genlab train lda ...) first")
        if isinstance(words, bool) or not isinstance(words, int) or words < 1:
            raise ValueError(f"words must be an integer >= 1, got {words!r}")
        K = self.config.topics
        if cond is None:
            theta = sample_dirichlet(self.alpha.expand(K), n, generator)
        else:
            theta = torch.as_tensor(cond, dtype=torch.float64).reshape(-1, K).expand(n, -1)
            if (theta < 0).any() or not torch.allclose(theta.sum(1), torch.ones(n, dtype=torch.float64)):
                raise ValueError(f"cond is a topic mixture: {K} non-negative weights summing to 1")
        theta = theta.to(self.lam.device)
        z = torch.multinomial(theta, words, replacement=True, generator=generator)  # (n, words) topics
        w = torch.multinomial(self.topic_word()[z.flatten()], 1, generator=generator).view(n, words)
        return [[vocab[int(i)] for i in row] for row in w]

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None,
               words: int = 30) -> Samples:
        """n bags of words (see sample_words) as text: character ids (n, L) of the words joined by spaces,
        padded with spaces, in the data's vocabulary (a character outside it becomes its unknown token)."""
        bags = self.sample_words(n, cond=cond, generator=generator, words=words)
        vocab = self.spec.vocab
        index = vocab.index
        space = index.get(" ", vocab.unk if vocab.unk is not None else 0)
        fallback = vocab.unk if vocab.unk is not None else space
        rows = [[index.get(ch, fallback) for ch in " ".join(bag)] for bag in bags]
        L = max(len(r) for r in rows)
        x = torch.full((n, L), space, dtype=torch.int64)
        for i, r in enumerate(rows):
            x[i, :len(r)] = torch.tensor(r, dtype=torch.int64)
        return Samples(x.to(self.lam.device))

    def describe(self) -> dict[str, Any]:
        """The base description and each topic's top words."""
        return {**super().describe(), "top_words": [" ".join(t) for t in self.top_words(10)]}


__all__ = ["LDA", "LDAConfig", "documents", "sample_dirichlet", "stop_words", "words"]
