#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lfm/error.h"

namespace lfm {

MappedFile::MappedFile(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(ErrorCode::kIo, path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw Error(ErrorCode::kIo, path + ": cannot stat: " + std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw Error(ErrorCode::kIo, path + ": is a directory, expected a file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            throw Error(ErrorCode::kIo, path + ": cannot mmap: " + std::strerror(err));
        }
        data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file alive
}

MappedFile::MappedFile(std::vector<uint8_t> bytes, const std::string& name)
    : path_(name), size_(bytes.size()), owned_(std::move(bytes)) {
    data_ = owned_.data();
}

MappedFile::MappedFile(HugeBuffer bytes, const std::string& name)
    : path_(name), size_(bytes.size()), owned_huge_(std::move(bytes)) {
    data_ = owned_huge_.data();
}

MappedFile::~MappedFile() {
    if (data_ != nullptr && owned_.empty() && owned_huge_.data() == nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace lfm
