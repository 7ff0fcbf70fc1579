// The three game tokenizers of `chessformer prep` (formats in docs/formats.md, each versioned):
//
//   char (v1)  the paper's transcript ";1.e4 e5 2.Nf3 Nc6" over the 32-character vocabulary
//              " #+-.0123456789;=BKNOQRabcdefghx"; canonical SAN regenerated from the replayed moves
//   move (v1)  [BOS, move ids of the 1968-move vocabulary..., RESULT]
//   fen  (v1)  per ply: the 77-token position encoding, then 32 + the move's id; finally the last
//              position's 77 tokens
//
// Encoders take a start position and legal moves; decoders replay and validate, returning the
// first problem as a DecodeError rather than throwing (prep calls them in hot loops).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/position.h"
#include "core/vocab.h"

namespace chess::tokenize {

constexpr int VERSION = 1;

// ---- char ----
constexpr std::string_view CHAR_VOCAB = " #+-.0123456789;=BKNOQRabcdefghx";
constexpr int CHAR_VOCAB_SIZE = 32;
constexpr uint8_t CHAR_GAME_START = 15;  // ';'
// Index of c in CHAR_VOCAB, or -1.
int char_id(char c);
// ";1.e4 e5 2.Nf3" for a game starting from the standard position (White to move at move 1).
// Returns false (and leaves out untouched) when the start position cannot be written that way.
bool char_transcript(const Position& start, const std::vector<Move>& moves, std::string& out);
void chars_to_ids(std::string_view text, std::vector<uint8_t>& out);

// ---- move ----
// Ids 0..1967 are the moves of core/vocab.h; the specials follow them.
constexpr int MOVE_PAD = 1968, MOVE_BOS = 1969, MOVE_WHITE_WINS = 1970, MOVE_BLACK_WINS = 1971,
              MOVE_DRAW = 1972, MOVE_UNKNOWN_RESULT = 1973;
constexpr int MOVE_VOCAB_SIZE = 1974;
static_assert(MOVE_PAD == vocab::NUM_MOVES && MOVE_VOCAB_SIZE == MOVE_UNKNOWN_RESULT + 1);
// The result tokens' names, in id order from MOVE_WHITE_WINS; any other result encodes as "*".
constexpr std::array<std::string_view, 4> MOVE_RESULT_NAMES = {"1-0", "0-1", "1/2-1/2", "*"};
// result: "1-0", "0-1", "1/2-1/2", anything else -> MOVE_UNKNOWN_RESULT; with_result=false omits it.
void encode_move(const Position& start, const std::vector<Move>& moves, std::string_view result,
                 bool with_result, std::vector<uint16_t>& out);

// ---- fen ----
constexpr int FEN_TOKENS = 77;
constexpr std::string_view FEN_VOCAB = ".0123456789abcdefghpnrqkPNBRQKw-";  // 32 symbols; 'b' is shared
constexpr int FEN_MOVE_OFFSET = 32;
constexpr int FEN_VOCAB_SIZE = FEN_MOVE_OFFSET + vocab::NUM_MOVES;
// The 77 tokens of one position: side (1), squares a8..h8, a7..h1 (64), castling KQkq or '.' (4),
// en passant file+rank or "-." (2), halfmove clock (3 digits, capped 999), fullmove (3 digits, capped).
void encode_position(const BoardState& s, std::vector<uint16_t>& out);
void encode_fen(const Position& start, const std::vector<Move>& moves, std::vector<uint16_t>& out);

// ---- decoding ----
struct Decoded {
  std::string start_fen;
  std::vector<std::string> uci;  // moves in UCI
  std::string result;            // move tokenizer only; "" when absent
  std::string error;             // empty on success; else what went wrong, with the token index
};
Decoded decode_char(const uint8_t* ids, size_t n);
Decoded decode_move(const uint16_t* ids, size_t n);
Decoded decode_fen(const uint16_t* ids, size_t n);

}  // namespace chess::tokenize
