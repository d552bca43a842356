// Hugging Face hub downloads with libcurl, into the hub's own cache layout:
//   <cache>/models--ORG--NAME/refs/main                 the commit "main" pointed to
//   <cache>/models--ORG--NAME/blobs/<sha256>            the file (LFS files are named by digest)
//   <cache>/models--ORG--NAME/snapshots/<commit>/<file> -> ../../blobs/<sha256>
// The file list, sizes and digests come from GET <endpoint>/api/models/ORG/NAME/revision/main
// ?blobs=true; the bytes from <endpoint>/ORG/NAME/resolve/<commit>/<file>, written to
// blobs/<sha256>.incomplete and resumed with a Range request when that exists.

#include "lfm/hub.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "hub/sha256.h"

namespace fs = std::filesystem;

namespace lfm {
namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

fs::path repo_dir(const HubOptions& o, const std::string& repo) {
    std::string name = "models--" + repo;
    for (size_t at = name.find('/'); at != std::string::npos; at = name.find('/')) name.replace(at, 1, "--");
    return fs::path(hub_cache_dir(o)) / name;
}

// A GGUF of the repository for the quant: its name holds the quant as a whole word
// ("...-Q4_K_M.gguf" matches Q4_K_M, not Q4_K_M_L); split files (-00001-of-00003) are not supported.
std::optional<std::string> pick_gguf(const std::vector<std::string>& files, const std::string& quant, bool* ambiguous) {
    std::vector<std::string> ggufs, hits;
    for (const auto& f : files)
        if (lower(f).ends_with(".gguf") && lower(f).find("-of-0") == std::string::npos) ggufs.push_back(f);
    auto matches = [](const std::string& file, const std::string& q) {
        std::string name = lower(fs::path(file).filename().string()), want = lower(q);
        for (size_t at = name.find(want); at != std::string::npos; at = name.find(want, at + 1)) {
            bool left = at == 0 || std::string("-._").find(name[at - 1]) != std::string::npos;
            char after = at + want.size() < name.size() ? name[at + want.size()] : '\0';
            if (left && (after == '.' || after == '-')) return true;
        }
        return false;
    };
    *ambiguous = false;
    if (quant.empty()) {
        for (const auto& f : ggufs)
            if (matches(f, "Q4_K_M")) return f;
        if (ggufs.size() == 1) return ggufs[0];
        *ambiguous = ggufs.size() > 1;
        return std::nullopt;
    }
    for (const auto& f : ggufs)
        if (matches(f, quant)) hits.push_back(f);
    if (hits.size() == 1) return hits[0];
    *ambiguous = hits.size() > 1;
    return std::nullopt;
}

std::string list_ggufs(const std::vector<std::string>& files) {
    std::string out;
    for (const auto& f : files)
        if (lower(f).ends_with(".gguf")) out += (out.empty() ? "" : ", ") + f;
    return out.empty() ? "none" : out;
}

// ---------------------------------------------------------------------------------------------
// libcurl

void curl_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Curl {
    CURL* h = nullptr;
    curl_slist* headers = nullptr;
    char error[CURL_ERROR_SIZE] = {};
    explicit Curl(const HubOptions& o, const std::string& token) {
        curl_init_once();
        h = curl_easy_init();
        if (!h) throw Error(ErrorCode::kIo, "libcurl could not start");
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 20L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);   // a stalled transfer ...
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);   // ... is dropped after a minute
        curl_easy_setopt(h, CURLOPT_USERAGENT, "lfm/0.1");
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
        if (headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        (void)o;
    }
    ~Curl() {
        curl_slist_free_all(headers);
        curl_easy_cleanup(h);
    }
    std::string describe(CURLcode rc) const {
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        std::string what = error[0] ? error : curl_easy_strerror(rc);
        if (status >= 400) what = "HTTP " + std::to_string(status) + (status == 401 || status == 403 ? " (a gated or private repository needs HF_TOKEN)" : status == 404 ? " (no such repository or file)" : "");
        return what;
    }
};

size_t append_to_string(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

struct FileSink {
    std::FILE* f;
    uint64_t written;
};

size_t append_to_file(char* data, size_t size, size_t n, void* out) {
    auto* sink = static_cast<FileSink*>(out);
    size_t wrote = std::fwrite(data, 1, size * n, sink->f);
    sink->written += wrote;
    return wrote;
}

struct Progress {
    const HubOptions* options;
    uint64_t offset, total;
};

int on_progress(void* p, curl_off_t /*dl_total*/, curl_off_t dl_now, curl_off_t, curl_off_t) {
    auto* pr = static_cast<Progress*>(p);
    if (pr->options->progress) pr->options->progress(pr->offset + static_cast<uint64_t>(dl_now), pr->total);
    return 0;
}

nlohmann::json fetch_revision(const HubOptions& o, const std::string& endpoint, const std::string& token,
                              const std::string& repo) {
    Curl c(o, token);
    std::string body;
    const std::string url = endpoint + "/api/models/" + repo + "/revision/main?blobs=true";
    curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, append_to_string);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(c.h);
    if (rc != CURLE_OK) throw Error(ErrorCode::kIo, "cannot list " + repo + " on " + endpoint + ": " + c.describe(rc));
    try {
        return nlohmann::json::parse(body);
    } catch (const nlohmann::json::parse_error&) {
        throw Error(ErrorCode::kInvalidFile, url + ": the hub's answer is not JSON");
    }
}

// Downloads url into `partial`, resuming from what is there; true when the file is complete.
void download(const HubOptions& o, const std::string& token, const std::string& url, const fs::path& partial,
              uint64_t size, const std::string& file) {
    std::string last_error;
    for (int attempt = 0; attempt <= std::max(0, o.retries); ++attempt) {
        std::error_code ec;
        uint64_t have = fs::exists(partial, ec) ? fs::file_size(partial, ec) : 0;
        if (size > 0 && have > size) {
            fs::remove(partial, ec);
            have = 0;
        }
        if (size > 0 && have == size) return;
        std::FILE* f = std::fopen(partial.c_str(), have > 0 ? "ab" : "wb");
        if (!f) throw Error(ErrorCode::kIo, partial.string() + ": cannot write");
        FileSink sink{f, 0};
        Progress progress{&o, have, size};
        Curl c(o, token);
        curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, append_to_file);
        curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(c.h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c.h, CURLOPT_XFERINFODATA, &progress);
        curl_easy_setopt(c.h, CURLOPT_NOPROGRESS, 0L);
        if (have > 0) curl_easy_setopt(c.h, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(have));
        CURLcode rc = curl_easy_perform(c.h);
        long status = 0;
        curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);
        std::fclose(f);
        if (rc == CURLE_OK) {
            if (have > 0 && status == 200) {  // the server ignored the Range: it sent the whole file
                fs::path whole = partial.string() + ".whole";
                std::ifstream in(partial, std::ios::binary);
                in.seekg(static_cast<std::streamoff>(have));
                std::ofstream out(whole, std::ios::binary);
                out << in.rdbuf();
                out.close();
                fs::rename(whole, partial);
            }
            return;
        }
        if (rc == CURLE_RANGE_ERROR || status == 416) {  // what we had cannot be resumed: start over
            fs::remove(partial, ec);
            last_error = c.describe(rc);
            continue;
        }
        last_error = c.describe(rc);
        if (status >= 400 && status < 500) break;  // retrying will not help
    }
    throw Error(ErrorCode::kIo, "downloading " + file + " failed: " + last_error + "; the part already downloaded is kept in " +
                                    partial.string() + " and the next run resumes it");
}

std::string verify(const fs::path& path, uint64_t size, const std::string& sha256) {
    std::error_code ec;
    if (size > 0 && fs::file_size(path, ec) != size)
        return "size " + std::to_string(fs::file_size(path, ec)) + " instead of " + std::to_string(size);
    if (sha256.empty()) return "";
    std::ifstream in(path, std::ios::binary);
    Sha256 h;
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        h.update(buf.data(), static_cast<size_t>(in.gcount()));
    }
    std::string got = h.hex_digest();
    return got == lower(sha256) ? "" : "sha256 " + got + " instead of " + sha256;
}

}  // namespace

HubModelRef HubModelRef::parse(const std::string& spec) {
    HubModelRef r;
    size_t colon = spec.find(':');
    r.repo = spec.substr(0, colon);
    if (colon != std::string::npos) r.quant = spec.substr(colon + 1);
    size_t slash = r.repo.find('/');
    bool ok = slash != std::string::npos && slash > 0 && slash + 1 < r.repo.size() && r.repo.find('/', slash + 1) == std::string::npos &&
              (colon == std::string::npos || !r.quant.empty());
    for (char c : r.repo) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || std::string("/-_.").find(c) != std::string::npos);
    for (char c : r.quant) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || std::string("-_.").find(c) != std::string::npos);
    if (!ok) throw Error(ErrorCode::kInvalidArgument, "'" + spec + "' is not ORG/NAME[:QUANT] (e.g. LiquidAI/LFM2.5-8B-A1B-GGUF:Q4_K_M)");
    return r;
}

std::string hub_cache_dir(const HubOptions& o) {
    if (!o.cache_dir.empty()) return o.cache_dir;
    if (auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
    if (auto v = env("HF_HOME"); !v.empty()) return (fs::path(v) / "hub").string();
    if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return (fs::path(v) / "huggingface" / "hub").string();
    return (fs::path(env("HOME")) / ".cache" / "huggingface" / "hub").string();
}

std::optional<std::string> hub_find_cached(const std::string& spec, const HubOptions& o) {
    const HubModelRef ref = HubModelRef::parse(spec);
    const fs::path dir = repo_dir(o, ref.repo);
    std::error_code ec;
    std::vector<fs::path> snapshots;
    std::ifstream refs(dir / "refs" / "main");
    std::string commit;
    if (refs && std::getline(refs, commit) && fs::is_directory(dir / "snapshots" / commit, ec))
        snapshots.push_back(dir / "snapshots" / commit);
    if (fs::is_directory(dir / "snapshots", ec))
        for (const auto& e : fs::directory_iterator(dir / "snapshots", ec)) snapshots.push_back(e.path());
    for (const fs::path& snap : snapshots) {
        std::vector<std::string> files;
        for (auto it = fs::recursive_directory_iterator(snap, ec); it != fs::recursive_directory_iterator(); it.increment(ec))
            if (fs::is_regular_file(it->path(), ec))  // follows the symlink: a dangling one is not a file
                files.push_back(it->path().lexically_relative(snap).string());
        bool ambiguous = false;
        if (auto f = pick_gguf(files, ref.quant, &ambiguous)) return (snap / *f).string();
    }
    return std::nullopt;
}

std::string hub_fetch(const std::string& spec, const HubOptions& o) {
    const HubModelRef ref = HubModelRef::parse(spec);
    if (auto cached = hub_find_cached(spec, o)) return *cached;
    const fs::path dir = repo_dir(o, ref.repo);
    const std::string where = "put the GGUF file in " + (dir / "snapshots" / "<commit>").string() + "/ or pass -m FILE";
    if (o.offline || env("HF_HUB_OFFLINE") == "1")
        throw Error(ErrorCode::kIo, spec + " is not in the cache and downloads are off (offline): " + where);
    const std::string endpoint = !o.endpoint.empty() ? o.endpoint : !env("HF_ENDPOINT").empty() ? env("HF_ENDPOINT") : "https://huggingface.co";
    const std::string token = !o.token.empty() ? o.token : env("HF_TOKEN");

    nlohmann::json info;
    try {
        info = fetch_revision(o, endpoint, token, ref.repo);
    } catch (const Error& e) {
        throw Error(e.code(), std::string(e.what()) + "; without the network, " + where);
    }
    if (!info.is_object() || !info.contains("siblings") || !info["siblings"].is_array() || !info.contains("sha") ||
        !info["sha"].is_string())
        throw Error(ErrorCode::kInvalidFile, endpoint + ": the hub's answer for " + ref.repo + " has no file list");
    const std::string commit = info["sha"].get<std::string>();
    std::vector<std::string> files;
    for (const auto& s : info["siblings"])
        if (s.is_object() && s.contains("rfilename") && s["rfilename"].is_string()) files.push_back(s["rfilename"].get<std::string>());
    bool ambiguous = false;
    auto file = pick_gguf(files, ref.quant, &ambiguous);
    if (!file)
        throw Error(ErrorCode::kInvalidArgument,
                    ref.repo + (ambiguous ? " has several GGUF files for '" + ref.quant + "'" : " has no GGUF file for '" + (ref.quant.empty() ? "Q4_K_M" : ref.quant) + "'") +
                        "; its GGUF files: " + list_ggufs(files) + " (name one as ORG/NAME:QUANT)");
    uint64_t size = 0;
    std::string sha256, blob_name;
    for (const auto& s : info["siblings"]) {
        if (!s.is_object() || s.value("rfilename", "") != *file) continue;
        if (s.contains("size") && s["size"].is_number_unsigned()) size = s["size"].get<uint64_t>();
        if (s.contains("lfs") && s["lfs"].is_object()) {
            sha256 = s["lfs"].value("sha256", "");
            if (s["lfs"].contains("size") && s["lfs"]["size"].is_number_unsigned()) size = s["lfs"]["size"].get<uint64_t>();
        }
        blob_name = !sha256.empty() ? sha256 : s.value("blobId", "");
    }
    if (blob_name.empty()) blob_name = commit + "-" + fs::path(*file).filename().string();
    if (blob_name.find('/') != std::string::npos || blob_name.find("..") != std::string::npos)
        throw Error(ErrorCode::kInvalidFile, "the hub gave a strange blob name '" + blob_name + "'");

    std::error_code ec;
    fs::create_directories(dir / "blobs", ec);
    fs::create_directories((dir / "snapshots" / commit / *file).parent_path(), ec);
    fs::create_directories(dir / "refs", ec);
    if (ec) throw Error(ErrorCode::kIo, (dir / "blobs").string() + ": cannot create: " + ec.message());
    const fs::path blob = dir / "blobs" / blob_name;
    if (!fs::exists(blob, ec) || !verify(blob, size, "").empty()) {
        const fs::path partial = blob.string() + ".incomplete";
        download(o, token, endpoint + "/" + ref.repo + "/resolve/" + commit + "/" + *file, partial, size, *file);
        const std::string bad = verify(partial, size, sha256);
        if (!bad.empty()) {
            fs::remove(partial, ec);
            throw Error(ErrorCode::kInvalidFile, "the download of " + *file + " is corrupt (" + bad + "); it was removed, run again to retry");
        }
        fs::rename(partial, blob, ec);
        if (ec) throw Error(ErrorCode::kIo, blob.string() + ": " + ec.message());
    }
    const fs::path link = dir / "snapshots" / commit / *file;
    fs::remove(link, ec);
    fs::create_symlink(fs::relative(blob, link.parent_path()), link, ec);
    if (ec) fs::copy_file(blob, link, ec);  // file systems without symlinks
    std::ofstream(dir / "refs" / "main") << commit;
    return link.string();
}

}  // namespace lfm
