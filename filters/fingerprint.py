"""Text fingerprints for deduplication: normalized form, exact hash and MinHash signature, all vectorized.

Normalization (for hashing only; the released text is untouched): full-width ASCII to ASCII, ASCII case
folded, Traditional-only characters mapped to their Simplified form (so a converted copy still matches),
punctuation, symbols and whitespace removed. Tokens are single CJK characters and whole Latin/digit words;
shingles are `ngram` consecutive tokens. The signature is one-permutation MinHash with rotation
densification (Li et al. 2012; Shrivastava & Li 2014): each shingle hash is computed once and falls into one
of `num_perm` bins, so cost grows with the number of shingles, not shingles x permutations.
"""

from __future__ import annotations

import hashlib
import unicodedata
from functools import cached_property, lru_cache

import numpy as np


TABLE_SIZE = 0x40000
SEGMENT_CHARS = 1 << 19  # characters fingerprinted at once (a batch, or a segment of a longer text): ~40 MB of arrays
EMPTY = np.uint32(0xFFFFFFFF)
MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A strong 64-bit mixer; numpy uint64 arithmetic wraps modulo 2**64 as wanted."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@lru_cache(maxsize=1)  # one per process, shared by every task (filters/shared.py says why)
def normalization_table() -> np.ndarray:
    """Code point -> normalized code point (0 = dropped for hashing); read-only."""
    import opencc

    table = np.arange(TABLE_SIZE, dtype=np.uint32)
    for cp in range(TABLE_SIZE):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat[0] in "PZSC":  # punctuation, separators, symbols, controls
            table[cp] = 0
    table[0xFF01:0xFF5F] = np.where(table[0xFF01:0xFF5F] == 0, 0, np.arange(0x21, 0x7F, dtype=np.uint32))
    table[ord("A"): ord("Z") + 1] = np.arange(ord("a"), ord("z") + 1)
    table[0xFF21:0xFF3B] = np.arange(ord("a"), ord("z") + 1)
    # every Han character OpenCC simplifies (character by character, one per line so no phrase rules apply)
    han = [chr(cp) for r in ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00)) for cp in range(*r)]
    simplified = opencc.OpenCC("t2s").convert("\n".join(han)).split("\n")
    for t, s in zip(han, simplified):
        if len(s) == 1 and s != t:
            table[ord(t)] = ord(s)
    table.flags.writeable = False
    return table


class TextFingerprint:
    def __init__(self, ngram: int = 5, num_perm: int = 256, seed: int = 1):
        self.ngram = ngram
        self.num_perm = num_perm
        self.seed = seed

    @cached_property
    def table(self) -> np.ndarray:
        return normalization_table()

    @cached_property
    def _is_word(self) -> np.ndarray:
        """Code points that join into words (Latin letters and digits); everything else is a token on its own."""
        w = np.zeros(TABLE_SIZE, dtype=bool)
        w[ord("0"): ord("9") + 1] = True
        w[ord("a"): ord("z") + 1] = True
        w[0xC0:0x250] = True
        return w

    @cached_property
    def _salts(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        return rng.integers(1, 2**63, size=self.ngram + 2, dtype=np.uint64) | np.uint64(1)

    @staticmethod
    def exact_hash(norm: np.ndarray) -> int:
        return int.from_bytes(hashlib.blake2b(norm.tobytes(), digest_size=8).digest(), "little")

    def shingle_hashes(self, text: str) -> tuple[np.ndarray, int]:
        """(64-bit hash of each distinct shingle, exact hash of the normalized text) of one document."""
        hashes, _, exact = self._batch_shingles([text])
        return np.unique(hashes), int(exact[0])

    def _batch_shingles(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shingle hashes of a whole batch at once: (hashes, document index of each hash, exact hash per document).
        Every step is one numpy operation over all characters of the batch."""
        n_docs = len(texts)
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n_docs)
        codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        doc_of_char = np.repeat(np.arange(n_docs), lengths)
        norm_all = self.table[np.minimum(codes, TABLE_SIZE - 1)]
        keep = norm_all != 0
        is_word = self._is_word[norm_all] & keep
        # a token starts at every kept non-word code point and at the first code point of a word run
        joined = np.concatenate(([False], is_word[:-1])) if len(is_word) else is_word
        doc_starts = np.cumsum(lengths)[:-1]
        joined[doc_starts[doc_starts < len(joined)]] = False
        starts_all = keep & ~(is_word & joined)
        norm, doc_k, starts = norm_all[keep], doc_of_char[keep], starts_all[keep]
        bounds = np.searchsorted(doc_k, np.arange(n_docs + 1))
        exact = np.fromiter((self.exact_hash(norm[bounds[i]:bounds[i + 1]]) for i in range(n_docs)), dtype=np.uint64, count=n_docs)
        if norm.size == 0:
            return np.empty(0, np.uint64), np.empty(0, np.int64), exact
        start_idx = np.flatnonzero(starts)
        with np.errstate(over="ignore"):
            # position-dependent mixing inside a word, then one hash per token
            idx = np.arange(norm.size)
            pos = idx - np.maximum.accumulate(np.where(starts, idx, 0))
            values = _splitmix64(norm.astype(np.uint64)) * (pos.astype(np.uint64) * np.uint64(2) + np.uint64(1))
            tokens = _splitmix64(np.add.reduceat(values, start_idx))
            doc_of_token = doc_k[start_idx]
            n = self.ngram
            m = max(tokens.size - n + 1, 0)
            shingles = np.zeros(m, dtype=np.uint64)
            for k in range(n):  # n vector operations over all shingles of the batch
                shingles += tokens[k: k + m] * self._salts[k]
            same_doc = doc_of_token[:m] == doc_of_token[n - 1: n - 1 + m]
            hashes, owners = [shingles[same_doc]], [doc_of_token[:m][same_doc]]
            # documents with fewer than n tokens: one shingle of all their tokens
            per_doc = np.bincount(doc_of_token, minlength=n_docs)
            tok_bounds = np.concatenate(([0], np.cumsum(per_doc)))
            for d in np.flatnonzero((per_doc > 0) & (per_doc < n)):
                t = tokens[tok_bounds[d]: tok_bounds[d + 1]]
                hashes.append(np.array([np.sum(t * self._salts[: t.size])], dtype=np.uint64))
                owners.append(np.array([d]))
        return _splitmix64(np.concatenate(hashes)), np.concatenate(owners), exact

    def signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(signatures uint32 [len(texts), num_perm], exact hashes uint64 [len(texts)]) for a batch.

        The vectorized batch costs ~80 bytes of temporary arrays a character (a 30 MB one-line document: 1.2 GB), so
        texts go in sub-batches of at most SEGMENT_CHARS characters, and a longer text a segment at a time
        (`_long_signature`): the same values, memory bounded by the segment (issue 41)."""
        K = self.num_perm
        if sum(map(len, texts)) <= SEGMENT_CHARS:
            return self._batch_signatures(texts)
        sig, exact = np.empty((len(texts), K), dtype=np.uint32), np.empty(len(texts), dtype=np.uint64)
        group: list[int] = []
        chars = 0
        for i in [*range(len(texts)), None]:
            if group and (i is None or chars + len(texts[i]) > SEGMENT_CHARS):
                sig[group], exact[group] = self._batch_signatures([texts[j] for j in group])
                group, chars = [], 0
            if i is None:
                break
            if len(texts[i]) > SEGMENT_CHARS:
                sig[i], exact[i] = self._long_signature(texts[i])
            else:
                group.append(i)
                chars += len(texts[i])
        return sig, exact

    def _batch_signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        K = self.num_perm
        h, doc, exact = self._batch_shingles(texts)
        sig = np.full(len(texts) * K, EMPTY, dtype=np.uint32)
        if h.size:
            bins = ((h >> np.uint64(32)) % np.uint64(K)).astype(np.int64)
            np.minimum.at(sig, doc * K + bins, (h & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        sig = sig.reshape(len(texts), K)
        nonempty = np.bincount(doc, minlength=len(texts)) > 0
        return self._densify(sig, nonempty), exact

    # -- one long text, a segment at a time: the same tokens, shingles, exact hash and signature as `_batch_shingles`
    def _word_flags(self, text: str) -> np.ndarray:
        """Per code point: part of a Latin/digit word (kept after normalization and word-joining)."""
        norm = self.table[np.minimum(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32), TABLE_SIZE - 1)]
        return self._is_word[norm] & (norm != 0)

    def _segments(self, text: str, size: int):
        """`text` in pieces of about `size` characters, each cut where no word runs across it (so a piece's tokens
        are exactly the text's tokens in that stretch). A word longer than `size` stays in one piece."""
        start = 0
        while start < len(text):
            end = start + size
            while end < len(text):
                window = text[end - 1:end + 4096]
                flags = self._word_flags(window)
                ok = np.flatnonzero(~(flags[:-1] & flags[1:]))  # cutting before window[j + 1] splits no word
                if ok.size:
                    end += int(ok[0])
                    break
                end += len(window) - 1
            yield text[start:end]
            start = end

    def _segment_tokens(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(normalized kept code points, token hashes) of a piece that starts and ends between words, as
        `_batch_shingles` computes them for a whole document."""
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        norm_all = self.table[np.minimum(codes, TABLE_SIZE - 1)]
        keep = norm_all != 0
        is_word = self._is_word[norm_all] & keep
        joined = np.concatenate(([False], is_word[:-1])) if len(is_word) else is_word
        starts_all = keep & ~(is_word & joined)
        norm, starts = norm_all[keep], starts_all[keep]
        if norm.size == 0:
            return norm, np.empty(0, np.uint64)
        start_idx = np.flatnonzero(starts)
        with np.errstate(over="ignore"):
            idx = np.arange(norm.size)
            pos = idx - np.maximum.accumulate(np.where(starts, idx, 0))
            values = _splitmix64(norm.astype(np.uint64)) * (pos.astype(np.uint64) * np.uint64(2) + np.uint64(1))
            return norm, _splitmix64(np.add.reduceat(values, start_idx))

    def _long_signature(self, text: str, segment: int | None = None) -> tuple[np.ndarray, int]:
        """(signature, exact hash) of one text, a segment at a time: token hashes per segment, shingles over the
        previous segment's last ngram - 1 tokens and this one's, their minimum per bin kept as they go; the exact
        hash is the same blake2b fed a segment at a time."""
        n, K = self.ngram, self.num_perm
        digest = hashlib.blake2b(digest_size=8)
        sig = np.full(K, EMPTY, dtype=np.uint32)
        carry, total = np.empty(0, np.uint64), 0
        for piece in self._segments(text, segment or SEGMENT_CHARS):
            norm, tokens = self._segment_tokens(piece)
            digest.update(norm.tobytes())
            if not tokens.size:
                continue
            total += tokens.size
            t = np.concatenate((carry, tokens))
            m = t.size - n + 1
            if m > 0:
                shingles = np.zeros(m, dtype=np.uint64)
                with np.errstate(over="ignore"):
                    for k in range(n):
                        shingles += t[k: k + m] * self._salts[k]
                self._min_into(sig, _splitmix64(shingles))
            carry = t[max(t.size - (n - 1), 0):] if n > 1 else t[:0]
        if 0 < total < n:  # fewer than n tokens: one shingle of all of them (all in `carry`)
            with np.errstate(over="ignore"):
                self._min_into(sig, _splitmix64(np.array([np.sum(carry * self._salts[: carry.size])], dtype=np.uint64)))
        return self._densify(sig.reshape(1, K), np.array([total > 0]))[0], int.from_bytes(digest.digest(), "little")

    def _min_into(self, sig: np.ndarray, h: np.ndarray) -> None:
        bins = ((h >> np.uint64(32)) % np.uint64(self.num_perm)).astype(np.int64)
        np.minimum.at(sig, bins, (h & np.uint64(0xFFFFFFFF)).astype(np.uint32))

    @staticmethod
    def _densify(sig: np.ndarray, nonempty: np.ndarray) -> np.ndarray:
        """Empty bins borrow the value of the next non-empty bin to the right (circular), salted by distance,
        so two documents with the same content get the same values in the same empty bins."""
        out = sig.copy()
        todo = (out == EMPTY) & nonempty[:, None]
        src = sig.astype(np.uint64)
        for dist in range(1, sig.shape[1]):
            if not todo.any():
                break
            shifted = np.roll(src, -dist, axis=1)
            fill = todo & (shifted != np.uint64(EMPTY))
            if fill.any():
                with np.errstate(over="ignore"):
                    salted = (shifted + np.uint64(dist) * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFE)
                out[fill] = salted[fill].astype(np.uint32)
                todo &= ~fill
        return out


def estimate_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal signature entries: an estimate of the Jaccard similarity of the shingle sets."""
    return (a == b).mean(axis=-1)
