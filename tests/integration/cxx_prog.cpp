// cxx_prog: a C++ program that leans on the allocator through the standard
// library: new/delete (plain, array, over-aligned, sized), std::vector,
// std::string, std::map, std::unordered_map, std::shared_ptr, exceptions, and
// std::thread with objects created in one thread and deleted in another;
// the new-handler loop and bad_alloc of every form of operator new when the
// allocator cannot meet a request; and, under LD_PRELOAD of hakmem, that
// every operator new and delete is hakmem's own.
//
// It prints deterministic checksums (identical under any correct allocator)
// and checks them against values computed a second way.  Exit 0 on success;
// a line starting with "FAIL" and exit 1 otherwise.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dlfcn.h>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

[[noreturn]] void fail(const char *what, unsigned long long a, unsigned long long b)
{
    std::fprintf(stderr, "FAIL cxx_prog: %s (%llu vs %llu)\n", what, a, b);
    std::exit(1);
}

uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

uint64_t hash_str(const std::string &s)
{
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s)
        h = (h ^ c) * 1099511628211ULL;
    return h;
}

std::string make_word(uint64_t seed)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t len = 1 + seed % 40;
    if (seed % 97 == 0)
        len = 5000 + seed % 20000; // occasionally a long string
    std::string s;
    for (size_t i = 0; i < len; i++) {
        seed = mix(seed + i);
        s.push_back(alphabet[seed % 36]);
    }
    return s;
}

struct Payload {
    uint64_t id;
    std::string name;
    std::vector<uint32_t> data;
    std::map<int, std::string> tags;

    explicit Payload(uint64_t i) : id(i), name(make_word(mix(i)))
    {
        size_t n = mix(i * 3) % 300;
        if (i % 500 == 0)
            n = 100000; // some big vectors
        data.reserve(n / 2);
        for (size_t k = 0; k < n; k++)
            data.push_back(static_cast<uint32_t>(mix(i + k)));
        for (int t = 0; t < static_cast<int>(i % 5); t++)
            tags[t] = make_word(i * 7 + static_cast<uint64_t>(t));
    }

    uint64_t digest() const
    {
        uint64_t h = mix(id) ^ hash_str(name);
        for (uint32_t v : data)
            h = mix(h + v);
        for (auto &kv : tags)
            h += mix(static_cast<uint64_t>(kv.first)) ^ hash_str(kv.second);
        return h;
    }
};

struct alignas(64) Aligned64 {
    unsigned char bytes[64 * 3];
};

struct alignas(4096) AlignedPage {
    unsigned char bytes[100];
};

// ---- cross-thread new/delete through a queue ----
std::mutex mu;
std::condition_variable cv;
std::deque<Payload *> queue;
int producers_left;

constexpr int kProducers = 2;
constexpr int kConsumers = 2;
constexpr uint64_t kPerProducer = 15000;

std::atomic<uint64_t> produced_sum{0}, consumed_sum{0}, consumed_count{0};

void producer(int id)
{
    uint64_t local = 0;
    for (uint64_t i = 0; i < kPerProducer; i++) {
        auto *p = new Payload(static_cast<uint64_t>(id) * kPerProducer + i);
        local += p->digest();
        {
            std::unique_lock<std::mutex> lk(mu);
            cv.wait(lk, [] { return queue.size() < 256; });
            queue.push_back(p);
        }
        cv.notify_all();
    }
    produced_sum += local;
    {
        std::lock_guard<std::mutex> lk(mu);
        producers_left--;
    }
    cv.notify_all();
}

void consumer()
{
    uint64_t local = 0, count = 0;
    for (;;) {
        Payload *p;
        {
            std::unique_lock<std::mutex> lk(mu);
            cv.wait(lk, [] { return !queue.empty() || producers_left == 0; });
            if (queue.empty())
                break;
            p = queue.front();
            queue.pop_front();
        }
        cv.notify_all();
        local += p->digest();
        // grow the foreign object's containers before deleting it
        p->data.push_back(1);
        p->name += "x";
        delete p;
        count++;
    }
    consumed_sum += local;
    consumed_count += count;
}

uint64_t threaded_part()
{
    producers_left = kProducers;
    std::vector<std::thread> ts;
    for (int i = 0; i < kConsumers; i++)
        ts.emplace_back(consumer);
    for (int i = 0; i < kProducers; i++)
        ts.emplace_back(producer, i);
    for (auto &t : ts)
        t.join();
    if (consumed_count != kProducers * kPerProducer)
        fail("consumed count", consumed_count.load(), kProducers * kPerProducer);
    if (consumed_sum != produced_sum)
        fail("cross-thread digest mismatch: objects changed between threads", consumed_sum.load(),
             produced_sum.load());
    return consumed_sum.load();
}

// ---- single-threaded containers ----
uint64_t containers_part()
{
    std::map<std::string, std::vector<int>> index;
    std::unordered_map<uint64_t, std::string> by_hash;
    uint64_t seed = 12345;
    for (int i = 0; i < 60000; i++) {
        seed = mix(seed + static_cast<uint64_t>(i));
        std::string w = make_word(seed % 5000); // many duplicates
        index[w].push_back(i);
        by_hash[hash_str(w)] = w;
    }
    uint64_t h = index.size() * 1000003ULL + by_hash.size();
    for (auto &kv : index) {
        h = mix(h ^ hash_str(kv.first));
        for (int v : kv.second)
            h += static_cast<uint64_t>(v);
    }
    // sort a big vector of strings
    std::vector<std::string> words;
    for (auto &kv : by_hash)
        words.push_back(kv.second);
    std::sort(words.begin(), words.end());
    for (size_t i = 0; i < words.size(); i += 7)
        h = mix(h + hash_str(words[i]));
    // erase half of the map, re-insert, shrink
    for (auto it = index.begin(); it != index.end();)
        it = (hash_str(it->first) & 1) ? index.erase(it) : std::next(it);
    for (int i = 0; i < 5000; i++)
        index[std::to_string(i)].assign(static_cast<size_t>(i % 50), i);
    h ^= index.size();
    words.clear();
    words.shrink_to_fit();
    return h;
}

uint64_t new_delete_part()
{
    uint64_t h = 0;
    // over-aligned new/delete
    std::vector<Aligned64 *> a64;
    std::vector<AlignedPage *> apage;
    for (int i = 0; i < 2000; i++) {
        auto *p = new Aligned64;
        if (reinterpret_cast<uintptr_t>(p) % 64 != 0)
            fail("new Aligned64 misaligned", reinterpret_cast<uintptr_t>(p) % 64, 0);
        p->bytes[0] = static_cast<unsigned char>(i);
        a64.push_back(p);
        if (i % 10 == 0) {
            auto *q = new AlignedPage;
            if (reinterpret_cast<uintptr_t>(q) % 4096 != 0)
                fail("new AlignedPage misaligned", reinterpret_cast<uintptr_t>(q) % 4096, 0);
            q->bytes[99] = static_cast<unsigned char>(i);
            apage.push_back(q);
        }
    }
    for (auto *p : a64)
        h += p->bytes[0];
    for (auto *q : apage)
        h += q->bytes[99];
    for (auto *p : a64)
        delete p;
    for (auto *q : apage)
        delete q;
    auto *arr = new Aligned64[100];
    delete[] arr;

    // arrays, nothrow new, sized delete via std::allocator
    for (int i = 1; i < 3000; i++) {
        auto *arr2 = new uint64_t[static_cast<size_t>(i)];
        for (int k = 0; k < i; k++)
            arr2[k] = static_cast<uint64_t>(k) * static_cast<uint64_t>(i);
        h += arr2[i - 1];
        delete[] arr2;
    }
    auto *nt = new (std::nothrow) char[1 << 20];
    if (!nt)
        fail("new(nothrow) char[1 MiB] failed", 0, 0);
    delete[] nt;

    // impossible new throws bad_alloc (the allocator must return NULL)
    bool threw = false;
    try {
        // through a volatile pointer so the compiler cannot elide the call
        void *(*volatile op_new)(std::size_t) = &::operator new;
        void *never = op_new(static_cast<size_t>(-1) / 4);
        ::operator delete(never);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    if (!threw)
        fail("new char[SIZE_MAX/4] did not throw bad_alloc", 0, 0);

    // exceptions allocate their objects with malloc
    int caught = 0;
    for (int i = 0; i < 2000; i++) {
        try {
            throw std::runtime_error(make_word(static_cast<uint64_t>(i)));
        } catch (const std::runtime_error &e) {
            caught += (e.what()[0] != 0);
        }
    }
    h += static_cast<uint64_t>(caught);

    // shared_ptr released from another thread
    std::vector<std::shared_ptr<std::string>> shared;
    for (int i = 0; i < 5000; i++)
        shared.push_back(std::make_shared<std::string>(make_word(static_cast<uint64_t>(i) + 99)));
    uint64_t sh = 0;
    std::thread t([&shared, &sh] {
        for (auto &s : shared)
            sh += hash_str(*s);
        shared.clear(); // last reference dies in this thread
        shared.shrink_to_fit();
    });
    t.join();
    h += sh;
    return h;
}

// The new-handler loop runs when the allocator cannot meet a request: a
// handler that gives up on its second call sees exactly two calls, then the
// throwing forms throw bad_alloc and the nothrow forms return nullptr.
int handler_calls;
void give_up_second_time()
{
    if (++handler_calls == 2)
        std::set_new_handler(nullptr);
}

void out_of_memory_part()
{
    const size_t huge = static_cast<size_t>(-1) / 4;
    for (int form = 0; form < 8; form++) {
        handler_calls = 0;
        std::set_new_handler(give_up_second_time);
        bool threw = false;
        void *p = nullptr;
        const auto al = static_cast<std::align_val_t>(256);
        try {
            // through volatile pointers, so the compiler cannot elide a call
            switch (form) {
            case 0: {
                void *(*volatile op)(std::size_t) = &::operator new;
                p = op(huge);
                break;
            }
            case 1: {
                void *(*volatile op)(std::size_t) = &::operator new[];
                p = op(huge);
                break;
            }
            case 2: {
                void *(*volatile op)(std::size_t, std::align_val_t) = &::operator new;
                p = op(huge, al);
                break;
            }
            case 3: {
                void *(*volatile op)(std::size_t, std::align_val_t) = &::operator new[];
                p = op(huge, al);
                break;
            }
            case 4: {
                void *(*volatile op)(std::size_t, const std::nothrow_t &) noexcept =
                    &::operator new;
                p = op(huge, std::nothrow);
                break;
            }
            case 5: {
                void *(*volatile op)(std::size_t, const std::nothrow_t &) noexcept =
                    &::operator new[];
                p = op(huge, std::nothrow);
                break;
            }
            case 6: {
                void *(*volatile op)(std::size_t, std::align_val_t,
                                     const std::nothrow_t &) noexcept = &::operator new;
                p = op(huge, al, std::nothrow);
                break;
            }
            default: {
                void *(*volatile op)(std::size_t, std::align_val_t,
                                     const std::nothrow_t &) noexcept = &::operator new[];
                p = op(huge, al, std::nothrow);
                break;
            }
            }
        } catch (const std::bad_alloc &) {
            threw = true;
        }
        std::set_new_handler(nullptr);
        if (p != nullptr)
            fail("an impossible operator new returned memory; form", static_cast<unsigned>(form),
                 0);
        if (threw != (form < 4))
            fail(form < 4 ? "an impossible operator new did not throw; form"
                          : "a nothrow operator new threw; form",
                 static_cast<unsigned>(form), 0);
        if (handler_calls != 2)
            fail("new-handler calls for an impossible operator new (form, calls)",
                 static_cast<unsigned>(form), static_cast<unsigned>(handler_calls));
    }
}

// Under LD_PRELOAD of hakmem, every operator new and delete the program
// calls is hakmem's own (not the C++ runtime's calling malloc and free).
void operators_part()
{
    const char *pre = std::getenv("LD_PRELOAD");
    if (pre == nullptr || std::strstr(pre, "libhakmem") == nullptr)
        return;
    // each operator's address as the compiler names it (so a mangled name
    // hakmem got wrong shows up as the C++ runtime's definition)
    using std::align_val_t;
    using std::nothrow_t;
    using std::size_t;
    const struct {
        const char *what;
        void *addr;
    } ops[] = {
#define OP(what, type, op) {what, reinterpret_cast<void *>(static_cast<type>(op))}
        OP("new", void *(*)(size_t), &::operator new),
        OP("new[]", void *(*)(size_t), &::operator new[]),
        OP("new nothrow", void *(*)(size_t, const nothrow_t &) noexcept, &::operator new),
        OP("new[] nothrow", void *(*)(size_t, const nothrow_t &) noexcept, &::operator new[]),
        OP("new aligned", void *(*)(size_t, align_val_t), &::operator new),
        OP("new[] aligned", void *(*)(size_t, align_val_t), &::operator new[]),
        OP("new aligned nothrow", void *(*)(size_t, align_val_t, const nothrow_t &) noexcept,
           &::operator new),
        OP("new[] aligned nothrow", void *(*)(size_t, align_val_t, const nothrow_t &) noexcept,
           &::operator new[]),
        OP("delete", void (*)(void *) noexcept, &::operator delete),
        OP("delete[]", void (*)(void *) noexcept, &::operator delete[]),
        OP("delete sized", void (*)(void *, size_t) noexcept, &::operator delete),
        OP("delete[] sized", void (*)(void *, size_t) noexcept, &::operator delete[]),
        OP("delete nothrow", void (*)(void *, const nothrow_t &) noexcept, &::operator delete),
        OP("delete[] nothrow", void (*)(void *, const nothrow_t &) noexcept,
           &::operator delete[]),
        OP("delete aligned", void (*)(void *, align_val_t) noexcept, &::operator delete),
        OP("delete[] aligned", void (*)(void *, align_val_t) noexcept, &::operator delete[]),
        OP("delete sized aligned", void (*)(void *, size_t, align_val_t) noexcept,
           &::operator delete),
        OP("delete[] sized aligned", void (*)(void *, size_t, align_val_t) noexcept,
           &::operator delete[]),
        OP("delete aligned nothrow", void (*)(void *, align_val_t, const nothrow_t &) noexcept,
           &::operator delete),
        OP("delete[] aligned nothrow",
           void (*)(void *, align_val_t, const nothrow_t &) noexcept, &::operator delete[]),
#undef OP
    };
    for (const auto &op : ops) {
        Dl_info info;
        if (dladdr(op.addr, &info) == 0 || info.dli_fname == nullptr ||
            std::strstr(info.dli_fname, "libhakmem") == nullptr) {
            std::fprintf(stderr, "FAIL cxx_prog: operator %s comes from %s, not hakmem\n",
                         op.what, info.dli_fname ? info.dli_fname : "nowhere");
            std::exit(1);
        }
    }
    // and they work together: an aligned array through the aligned forms
    auto *a = static_cast<char *>(::operator new[](1000, std::align_val_t(512)));
    if (reinterpret_cast<uintptr_t>(a) % 512 != 0)
        fail("operator new[](1000, align 512) misaligned", reinterpret_cast<uintptr_t>(a) % 512,
             0);
    std::memset(a, 7, 1000);
    ::operator delete[](a, 1000, std::align_val_t(512));
}

} // namespace

int main()
{
    out_of_memory_part();
    operators_part();
    uint64_t c1 = containers_part();
    uint64_t c1_again = containers_part();
    if (c1 != c1_again)
        fail("containers checksum differs between two identical runs", c1, c1_again);
    uint64_t c2 = new_delete_part();
    uint64_t c3 = threaded_part();
    std::printf("containers %016llx\n", static_cast<unsigned long long>(c1));
    std::printf("new/delete %016llx\n", static_cast<unsigned long long>(c2));
    std::printf("threads    %016llx\n", static_cast<unsigned long long>(c3));
    std::printf("checksum   %016llx\n", static_cast<unsigned long long>(mix(c1 ^ mix(c2 ^ mix(c3)))));
    return 0;
}
