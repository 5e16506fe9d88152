#include "sidecar/records.hpp"

namespace tender::sidecar {

struct RecordAssembler::Impl {};

Result<> validate(const RecordOptions&) {
  return Error(std::errc::function_not_supported, "records: not built yet");
}
Result<RecordAssembler> RecordAssembler::create(const RecordOptions& options,
                                                std::shared_ptr<const Source>, std::uint64_t) {
  if (auto ok = validate(options); !ok) {
    return ok.error();
  }
  return RecordAssembler(std::make_unique<Impl>());
}
RecordAssembler::RecordAssembler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RecordAssembler::RecordAssembler(RecordAssembler&&) noexcept = default;
RecordAssembler& RecordAssembler::operator=(RecordAssembler&&) noexcept = default;
RecordAssembler::~RecordAssembler() = default;

}  // namespace tender::sidecar
