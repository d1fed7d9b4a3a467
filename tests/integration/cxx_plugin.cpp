// cxx_plugin: the C++ half of cxx_plugin_host, loaded with dlopen(RTLD_LOCAL)
// by a C program, so its C++ runtime is in no global lookup scope. An
// allocator that defines the C++ operators must still find that runtime
// when it cannot meet a request: operator new then runs the new-handler
// loop and throws bad_alloc, and the nothrow form returns nullptr.
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

namespace {
int handler_calls;
void give_up_second_time()
{
    if (++handler_calls == 2)
        std::set_new_handler(nullptr);
}
} // namespace

// 0 on success, else the number of the first check that failed
extern "C" int cxx_plugin_run(void)
{
    const std::size_t huge = static_cast<std::size_t>(-1) / 4;
    std::set_new_handler(give_up_second_time);
    bool threw = false;
    try {
        // through a volatile pointer, so the compiler cannot elide the call
        void *(*volatile op)(std::size_t) = &::operator new;
        ::operator delete(op(huge));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    std::set_new_handler(nullptr);
    if (!threw)
        return 1;
    if (handler_calls != 2)
        return 2;
    void *(*volatile nt)(std::size_t, const std::nothrow_t &) noexcept = &::operator new;
    if (nt(huge, std::nothrow) != nullptr)
        return 3;
    std::vector<std::string> v;
    for (int i = 0; i < 20000; i++)
        v.push_back(std::string(static_cast<std::size_t>(i % 100), 'p'));
    std::size_t total = 0;
    for (const auto &s : v)
        total += s.size();
    return total == 990000 ? 0 : 4;
}
