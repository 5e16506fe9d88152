#include "workqueue/codec.hpp"

#include <array>
#include <cstdint>

namespace tender::workqueue {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) {
      v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    }
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  static const std::array<int, 256> kValue = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) {
      t[static_cast<unsigned char>(kAlphabet[i])] = i;
    }
    return t;
  }();
  if (text.size() % 4 != 0) {
    return Error(std::errc::invalid_argument, "base64 text of " + std::to_string(text.size()) +
                                                  " characters (not a multiple of 4)");
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      const bool last_group = i + 4 == text.size();
      if (c == '=' && last_group && k >= 2 && (k == 3 || text[i + 3] == '=')) {
        ++pad;
        v <<= 6;
        continue;
      }
      const int d = kValue[static_cast<unsigned char>(c)];
      if (d < 0 || pad > 0) {
        return Error(std::errc::invalid_argument,
                     "not base64: character " + std::to_string(i + k + 1));
      }
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    out.push_back(static_cast<char>((v >> 16) & 0xff));
    if (pad < 2) {
      out.push_back(static_cast<char>((v >> 8) & 0xff));
    }
    if (pad < 1) {
      out.push_back(static_cast<char>(v & 0xff));
    }
  }
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

void put_bytes(boost::json::object& obj, std::string_view name, std::string_view bytes) {
  if (valid_utf8(bytes)) {
    obj[name] = bytes;
  } else {
    obj[std::string(name) + "_base64"] = base64_encode(bytes);
  }
}

Result<std::optional<std::string>> get_bytes(const boost::json::object& obj,
                                             std::string_view name) {
  const std::string b64 = std::string(name) + "_base64";
  const auto* plain = obj.if_contains(name);
  const auto* encoded = obj.if_contains(b64);
  if (plain != nullptr && encoded != nullptr) {
    return Error(std::errc::invalid_argument,
                 std::string(name) + " and " + b64 + " are both given; give one");
  }
  if (plain != nullptr) {
    if (!plain->is_string()) {
      return Error(std::errc::invalid_argument, std::string(name) + " must be a string");
    }
    return std::optional<std::string>(std::string(plain->as_string()));
  }
  if (encoded != nullptr) {
    if (!encoded->is_string()) {
      return Error(std::errc::invalid_argument, b64 + " must be a string");
    }
    auto d = base64_decode(encoded->as_string());
    if (!d) {
      return Error(std::errc::invalid_argument, b64 + ": " + d.error().message());
    }
    return std::optional<std::string>(std::move(*d));
  }
  return std::optional<std::string>();
}

}  // namespace tender::workqueue
