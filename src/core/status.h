// Status / Result<T>: errors at I/O, config and request boundaries, with messages that say what was
// wrong and where (file, tensor, field).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace tachyon {

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string msg) { return Status(std::move(msg), true); }
  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return is_ok(); }
  const std::string& message() const { return msg_; }
  // Prefix the message with context ("loading model.safetensors: ...").
  Status with_context(const std::string& ctx) const {
    return failed_ ? Status(ctx + ": " + msg_, true) : *this;
  }

 private:
  Status(std::string msg, bool failed) : msg_(std::move(msg)), failed_(failed) {}
  std::string msg_;
  bool failed_ = false;
};

template <typename... Args>
Status error(fmt::format_string<Args...> f, Args&&... args) {
  return Status::error(fmt::format(f, std::forward<Args>(args)...));
}

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}     // NOLINT: must be an error
  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status ok_status;
    return is_ok() ? ok_status : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tachyon

// Propagate an error Status from an expression returning Status.
#define TACHYON_RETURN_IF_ERROR(expr)                 \
  do {                                                \
    ::tachyon::Status _st = (expr);                   \
    if (!_st.is_ok()) return _st;                     \
  } while (0)

#define TACHYON_CONCAT_INNER(a, b) a##b
#define TACHYON_CONCAT(a, b) TACHYON_CONCAT_INNER(a, b)
// Assign the value of a Result<T> expression or return its error.
#define TACHYON_ASSIGN_OR_RETURN(lhs, expr)                                  \
  auto TACHYON_CONCAT(_res_, __LINE__) = (expr);                             \
  if (!TACHYON_CONCAT(_res_, __LINE__).is_ok())                              \
    return TACHYON_CONCAT(_res_, __LINE__).status();                         \
  lhs = std::move(TACHYON_CONCAT(_res_, __LINE__)).value()
