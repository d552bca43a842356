#pragma once
// The one error type of the library. Every failure the user can cause (a bad file, a bad
// argument, a context overflow) is reported as an lfm::Error whose message names the file,
// tensor or field and what was expected.

#include <stdexcept>
#include <string>

namespace lfm {

enum class ErrorCode {
    kInvalidArgument,   // a caller passed something that cannot work (bad option, token id out of range)
    kIo,                // the operating system refused: missing file, permission, mmap failure
    kInvalidFile,       // the file is not what it claims: bad magic, truncated, inconsistent
    kUnsupported,       // valid but not handled: tensor type, GGUF version, architecture
    kOutOfMemory,       // a request that would not fit (checked before allocating)
    kContextOverflow,   // more tokens than the session's context
};

const char* to_string(ErrorCode code);

class Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    ErrorCode code() const noexcept { return code_; }

private:
    ErrorCode code_;
};

}  // namespace lfm
