#pragma once
// The one type of run-time failure: a code a program can branch on, and a message a person can
// act on. Every function that can fail at run time returns `Result<T>` (for no value,
// `Result<>`), instead of an optional with an out-parameter, an empty-string-is-success or a
// {ok, message} struct. Configuration errors at start-up stay exceptions (ConfigError, exit 2).
//
// Usage:
//
//   tender::Result<std::string> read_token(const std::string& path) {
//     std::ifstream in(path);
//     if (!in) {
//       return tender::Error::from_errno(errno, "cannot read " + path);
//     }
//     ...
//   }
//
//   auto token = read_token("/run/secrets/token");
//   if (!token) {
//     log::warn(token.error().message());            // "cannot read /run/...: No such file..."
//     if (token.error().code() == std::errc::no_such_file_or_directory) { ... }
//   }
//
// `Result<T>` is boost::system::result<T, Error>: `.value()` on a failure throws
// std::system_error with the error's code, whose what() begins with the message.
#include <boost/assert/source_location.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace tender {

// errno `err` as a system error code, for the places that carry codes rather than Errors.
inline boost::system::error_code errno_code(int err) {
  return {err, boost::system::system_category()};
}

class Error {
 public:
  // No error (what boost::system::result reports as the error of a success).
  Error() = default;
  // A failure with no code of its own (the message says it all): the code is
  // errc::io_error. Prefer a code a caller could test when there is one.
  explicit Error(std::string message)
      : code_(make_error_code(boost::system::errc::io_error)), message_(std::move(message)) {}
  // The code's own message ("Connection refused").
  Error(boost::system::error_code code)  // NOLINT(google-explicit-constructor): `return ec;`
      : code_(code), message_(code.message()) {}
  Error(boost::system::error_code code, std::string message)
      : code_(code), message_(std::move(message)) {}
  Error(std::errc code, std::string message)
      : code_(std::make_error_code(code)), message_(std::move(message)) {}

  // errno `err` as a system error; the message is "`context`: strerror(err)".
  [[nodiscard]] static Error from_errno(int err, std::string_view context) {
    boost::system::error_code code(err, boost::system::system_category());
    return Error(code, std::string(context) + ": " + code.message());
  }

  [[nodiscard]] const boost::system::error_code& code() const { return code_; }
  [[nodiscard]] const std::string& message() const { return message_; }

  // The same error, its message prefixed by "`context`: ", as it travels up a call chain.
  [[nodiscard]] Error with_context(std::string_view context) const& {
    return Error(code_, std::string(context) + ": " + message_);
  }

  friend bool operator==(const Error& a, const Error& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  boost::system::error_code code_;
  std::string message_;
};

// A failure of input that is not valid (errc::invalid_argument), with `message` saying why.
[[nodiscard]] inline Error invalid_argument(std::string message) {
  return {std::errc::invalid_argument, std::move(message)};
}

template <class T = void>
using Result = boost::system::result<T, Error>;

// What Result<T>::value() throws for an error (found by argument-dependent lookup).
[[noreturn]] inline void throw_exception_from_error(const Error& e,
                                                    const boost::source_location& /*where*/) {
  throw std::system_error(std::error_code(e.code()), e.message());
}

}  // namespace tender
