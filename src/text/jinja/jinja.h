#pragma once
// A Jinja engine for the subset chat templates use, set up the way Hugging Face transformers
// sets up jinja2: trim_blocks and lstrip_blocks on, `tojson` as json.dumps(ensure_ascii=False),
// `strftime_now`, `raise_exception`, `{% generation %}`, loop controls, no autoescaping.
// Anything outside the subset is a TemplateError naming the construct and its line, at parse
// time where possible, so a template never renders wrongly in silence.

#include <ctime>
#include <memory>
#include <string>

#include "text/jinja/ast.h"
#include "text/jinja/value.h"

namespace lfm::jinja {

class Template {
public:
    explicit Template(const std::string& source);  // throws TemplateError

    // variables: the template's globals (messages, tools, bos_token, ...). now: what
    // strftime_now() formats, so renders are reproducible.
    std::string render(const Dict& variables, const std::tm& now) const;

private:
    std::shared_ptr<const Program> program_;
};

}  // namespace lfm::jinja
