// cxx_replace: a C++ program that replaces only the basic operator new and
// operator delete (as pools and leak trackers do), with blocks that carry a
// header of their own. The standard wants every other form it leaves alone
// (new[], nothrow new, sized delete, delete[]) to come to its replacements.
// The compiler turns `delete p` into the sized form, so an allocator that
// defines the other forms itself must pass them on to the C++ runtime's,
// which call the replacements; freeing the program's pointer itself would
// be a bad free.
//
// Exit 0 on success; a line starting with "FAIL" and exit 1 otherwise.
// the point: the sized operator delete is deliberately not replaced
#pragma GCC diagnostic ignored "-Wsized-deallocation"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <vector>

namespace {
constexpr uint64_t kMagic = 0x5eedfacecafe1234ULL;
std::atomic<long> news{0}, deletes{0};

[[noreturn]] void fail(const char *what, long a, long b)
{
    std::fprintf(stderr, "FAIL cxx_replace: %s (%ld vs %ld)\n", what, a, b);
    std::exit(1);
}
} // namespace

void *operator new(std::size_t n)
{
    // 16 bytes of header in front of the block handed out
    auto *h = static_cast<uint64_t *>(std::malloc(n + 16));
    if (h == nullptr)
        throw std::bad_alloc();
    h[0] = kMagic;
    h[1] = n;
    news++;
    return h + 2;
}

void operator delete(void *p) noexcept
{
    if (p == nullptr)
        return;
    auto *h = static_cast<uint64_t *>(p) - 2;
    if (h[0] != kMagic)
        fail("operator delete got a block the replacement did not hand out", 0, 0);
    h[0] = 0;
    deletes++;
    std::free(h);
}

int main()
{
    long sum = 0;
    for (int i = 0; i < 2000; i++) {
        auto *p = new long(i); // delete p: the sized form, operator delete(void *, size_t)
        sum += *p;
        delete p;
        auto *a = new int[static_cast<size_t>(i % 50 + 1)]; // new[] and delete[]
        a[0] = i;
        sum += a[0];
        delete[] a;
        auto *q = new (std::nothrow) double(i); // nothrow new
        if (q == nullptr)
            fail("new (nothrow) double returned nullptr", i, 0);
        sum += static_cast<long>(*q);
        delete q;
    }
    {
        std::vector<std::string> v;
        std::map<int, std::vector<int>> m;
        for (int i = 0; i < 3000; i++) {
            v.push_back(std::string(static_cast<size_t>(20 + i % 40), 'x'));
            m[i % 97].push_back(i);
        }
        sum += static_cast<long>(v.size() + m.size());
    }
    long n = news.load(), d = deletes.load();
    if (n < 3 * 2000)
        fail("fewer calls of the replaced operator new than new-expressions", n, 3 * 2000);
    if (n != d)
        fail("replaced operator new and operator delete calls differ", n, d);
    std::printf("cxx_replace: %ld news, %ld deletes through the replacements, sum %ld\n", n, d,
                sum);
    return 0;
}
