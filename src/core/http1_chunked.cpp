// The chunked transfer coding (RFC 9112 7.1): where a body ends, and its data.
#include <algorithm>

#include "core/http1.hpp"

namespace tender::http1 {

std::size_t Chunked::feed(std::string_view in, std::string* data, std::string* trailers) {
  std::size_t i = 0;
  auto end_of_size = [this] {
    state_ = size_ == 0 ? State::kTrailerStart : State::kData;
    digits_ = 0;
  };
  // Strict: control characters (but tab) end a body as malformed wherever a line may hold text.
  auto ctl = [](char ch) {
    auto u = static_cast<unsigned char>(ch);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  };
  // Keeps trailer bytes within the limit (failing the body beyond it).
  auto keep = [this](std::string& kept, std::string_view bytes) {
    if (kept.size() + bytes.size() > max_trailers_) {
      too_large_ = true;
      state_ = State::kFailed;
      return false;
    }
    kept.append(bytes);
    return true;
  };
  std::size_t counted = 0;  // bytes of `in` before this one counted as trailer bytes
  while (i < in.size() && state_ != State::kDone && state_ != State::kFailed) {
    char c = in[i];
    // Every byte of the trailer section counts, kept or not: a client cannot make a server
    // hold, or spend its time on, more than max_trailers_ of them.
    if (state_ >= State::kTrailerStart && state_ <= State::kTrailerLf && i >= counted) {
      counted = i + 1;
      if (++trailer_bytes_ > max_trailers_) {
        too_large_ = true;
        state_ = State::kFailed;
        break;
      }
    }
    switch (state_) {
      case State::kSize: {
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v >= 0) {
          if (++digits_ > 15) {
            state_ = State::kFailed;
            break;
          }
          size_ = size_ * 16 + static_cast<std::uint64_t>(v);
        } else if (digits_ == 0) {
          state_ = State::kFailed;
          break;
        } else if (c == ';' || (!strict_ && (c == ' ' || c == '\t'))) {
          state_ = State::kExtension;
          line_ = 0;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == '\n' && !strict_) {
          end_of_size();
        } else {
          state_ = State::kFailed;
          break;
        }
        ++i;
        break;
      }
      case State::kExtension:
        if (strict_ && c == '\r') {
          state_ = State::kSizeLf;
        } else if (strict_ && ctl(c)) {
          state_ = State::kFailed;
          break;
        } else if (c == '\n') {
          end_of_size();
        } else if (++line_ > 4096) {
          state_ = State::kFailed;
          break;
        }
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') {
          state_ = State::kFailed;
          break;
        }
        end_of_size();
        ++i;
        break;
      case State::kData: {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(size_, in.size() - i));
        if (data != nullptr) {
          data->append(in.substr(i, n));
        }
        total_ += n;
        size_ -= n;
        i += n;
        if (size_ == 0) {
          state_ = State::kDataCr;
        }
        break;
      }
      case State::kDataCr:
      case State::kDataLf:
        if (c == '\r' && state_ == State::kDataCr) {
          state_ = State::kDataLf;
        } else if (c == '\n' && (state_ == State::kDataLf || !strict_)) {
          state_ = State::kSize;
          size_ = 0;
          digits_ = 0;
        } else {
          state_ = State::kFailed;
          break;
        }
        ++i;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kTrailerLf;
          ++i;
        } else if (c == '\n' && !strict_) {
          state_ = State::kDone;
          ++i;
        } else {
          state_ = State::kTrailerLine;
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') {
          state_ = State::kFailed;
          break;
        }
        state_ = State::kDone;
        ++i;
        break;
      case State::kTrailerLine:
        if (strict_ && c == '\r') {
          state_ = State::kTrailerLineLf;
        } else if (strict_ && ctl(c)) {
          state_ = State::kFailed;
          break;
        } else if (c == '\n') {
          state_ = State::kTrailerStart;
          // A bare LF (lenient) is kept as CRLF: one byte more than came.
          if (trailers != nullptr && !keep(*trailers, "\r\n")) {
            break;
          }
        } else if (trailers != nullptr && !(c == '\r' && !strict_) &&
                   !keep(*trailers, std::string_view(&in[i], 1))) {
          break;
        }
        ++i;
        break;
      case State::kTrailerLineLf:
        if (c != '\n') {
          state_ = State::kFailed;
          break;
        }
        state_ = State::kTrailerStart;
        if (trailers != nullptr) {
          trailers->append("\r\n");
        }
        ++i;
        break;
      case State::kDone:
      case State::kFailed:
        break;
    }
  }
  return i;
}

}  // namespace tender::http1
