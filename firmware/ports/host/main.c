/* Bare-metal style main for the host port: the same loop the board mains run. */
#include "tinyml/port.h"
#include "tinyml/runtime.h"

int main(void) {
    tinyml_port_init(115200);
    tinyml_runtime_init();
    for (;;) {
        tinyml_runtime_poll();
        if (!tinyml_runtime_busy()) tinyml_port_idle();
    }
}
