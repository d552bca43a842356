#pragma once
// An HTTP error in the shape OpenAI's clients read: {"error": {"message", "type", "param", "code"}}.

#include <stdexcept>
#include <string>

namespace lfm::serve {

struct ApiError : std::runtime_error {
    ApiError(int status_, std::string message, std::string param_ = {}, std::string type_ = {})
        : std::runtime_error(std::move(message)), status(status_), param(std::move(param_)),
          type(type_.empty() ? default_type(status_) : std::move(type_)) {}
    int status;
    std::string param;
    std::string type;

    static std::string default_type(int status) {
        switch (status) {
            case 401: return "authentication_error";
            case 404: return "not_found_error";
            case 413: return "request_too_large";
            case 503: return "server_overloaded";
            default: return status >= 500 ? "server_error" : "invalid_request_error";
        }
    }
};

}  // namespace lfm::serve
