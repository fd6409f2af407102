/* Runs the generated ESP32 glue's tinyml_init() on the host and prints what the device would
 * report: status, model source, name, sha256, failure detail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_stubs.h"
#include "model.h"

static esp_partition_t part = {0x150000, 0, "model"};
static uint8_t *part_data = nullptr;

extern "C" const esp_partition_t *esp_partition_find_first(esp_partition_type_t, esp_partition_subtype_t,
                                                           const char *label) {
    const char *path = getenv("TINYML_TEST_PARTITION");
    if (path == nullptr || strcmp(label, "model") != 0) return nullptr;
    FILE *f = fopen(path, "rb");
    if (f == nullptr) return nullptr;
    fseek(f, 0, SEEK_END);
    part.size = (uint32_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    part_data = static_cast<uint8_t *>(malloc(part.size + 16));
    if (fread(part_data, 1, part.size, f) != part.size) part.size = 0;
    fclose(f);
    return &part;
}

size_t mapped_bytes = 0;

extern "C" esp_err_t esp_partition_read(const esp_partition_t *p, size_t offset, void *dst, size_t size) {
    if (p != &part || offset + size > part.size) return ESP_FAIL;
    memcpy(dst, part_data + offset, size);
    return ESP_OK;
}

extern "C" esp_err_t esp_partition_mmap(const esp_partition_t *p, size_t offset, size_t size,
                                        spi_flash_mmap_memory_t, const void **out, spi_flash_mmap_handle_t *h) {
    if (p != &part || offset + size > part.size) return ESP_FAIL;
    *out = part_data + offset;
    mapped_bytes = size;
    *h = 1;
    return ESP_OK;
}

int main(void) {
    int rc = tinyml_init();
    printf("init=%d\nsource=%s\nname=%s\nsha256=%s\ndetail=%s\nmapped=%lu\n", rc, tinyml_model_source(),
           tinyml_model_name(), tinyml_model_sha256(), tinyml_init_detail(), (unsigned long)mapped_bytes);
    return 0;
}
